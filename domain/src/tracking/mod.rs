//! Open and click tracking in a message's HTML part.
//!
//! Whether a message is tracked at all is decided elsewhere, from the recipient's
//! consent; this module only rewrites the HTML once that is settled:
//! [`rewrite_links`] points each web link at a tracking URL the caller builds, and
//! [`insert_open_pixel`] adds the image that reports an open. Both work on the markup as
//! written, with a small tokenizer that knows comments and quoted attributes, so that
//! everything they do not touch stays byte for byte as the template rendered it.

mod attribute_text;
mod links;
mod pixel;
mod tags;

pub use links::rewrite_links;
pub use pixel::insert_open_pixel;
