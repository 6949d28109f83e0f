//! DKIM signing cost per message against its physical floor, in the same run: Mailroom's
//! `DomainSigner` (relaxed/relaxed canonicalisation of headers and body, SHA-256 of the
//! body, one signature) beside the bare cost of one RSA-2048 (or Ed25519) signature plus
//! a SHA-256 of the same body with aws-lc-rs.
//!
//!   cargo run --release -p mailroom-domain --example bench_dkim -- -n 2000
//!
//! Run through `bench/dkim`. Single-threaded, like one sender job. Three figures per key
//! type: `floor` (hash the body, sign a header-sized block), `signer` (a signer made once,
//! reused: what a sender that caches signers pays) and `per_message` (the signer made from
//! its PKCS#8 key for every message, as the sender does today).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Instant;

use aws_lc_rs::signature::KeyPair;
use mailroom_domain::sending_domains::{DkimAlgorithm, DkimKeyPair, DomainSigner};

fn message(body_bytes: usize) -> Vec<u8> {
    let mut m = String::from(
        "From: News <news@example.com>\r\nTo: Ada <ada@example.org>\r\nSubject: November news\r\n\
         Date: Mon, 7 Dec 2026 10:00:00 +0000\r\nMessage-ID: <0193a4b2@mail.example.com>\r\n\
         MIME-Version: 1.0\r\nList-Unsubscribe: <https://mail.example.com/u/abcdef>\r\n\
         List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\
         Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
    );
    let line =
        "<p>Hello Ada, here is this month's news from the shop: new arrivals, =\r\nevents.</p>\r\n";
    while m.len() < body_bytes {
        m.push_str(line);
    }
    m.into_bytes()
}

fn time(n: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..(n / 10).max(5) {
        f();
    }
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .iter()
        .position(|a| a == "-n")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let message = message(30_000);
    let header_block = &message[..600];
    let body = &message[600..];
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("dkim n={n} nproc={nproc} message_bytes={}", message.len());
    for algorithm in [DkimAlgorithm::Rsa, DkimAlgorithm::Ed25519] {
        let pair = DkimKeyPair::generate(algorithm).unwrap();
        let floor = match algorithm {
            DkimAlgorithm::Rsa => {
                let key = aws_lc_rs::rsa::KeyPair::from_pkcs8(&pair.private_pkcs8).unwrap();
                let rng = aws_lc_rs::rand::SystemRandom::new();
                let mut sig = vec![0u8; key.public_modulus_len()];
                time(n, || {
                    black_box(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body));
                    key.sign(
                        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                        &rng,
                        header_block,
                        &mut sig,
                    )
                    .unwrap();
                    black_box(&sig);
                })
            }
            DkimAlgorithm::Ed25519 => {
                let key =
                    aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(&pair.private_pkcs8).unwrap();
                black_box(key.public_key());
                time(n, || {
                    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body);
                    let headers =
                        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, header_block);
                    black_box(digest);
                    black_box(key.sign(headers.as_ref()));
                })
            }
        };
        let signer =
            DomainSigner::new("example.com", "mr1", algorithm, &pair.private_pkcs8).unwrap();
        let reused = time(n, || {
            black_box(signer.signature_header(&message).unwrap());
        });
        let per_message = time(n, || {
            let signer =
                DomainSigner::new("example.com", "mr1", algorithm, &pair.private_pkcs8).unwrap();
            black_box(signer.signature_header(&message).unwrap());
        });
        println!(
            "{}: floor_us={floor:.1} signer_us={reused:.1} per_message_us={per_message:.1} ratio_signer/floor={:.2} ratio_per_message/floor={:.2}",
            algorithm.as_str(),
            reused / floor,
            per_message / floor
        );
    }
}
