//! The uploaded file, kept in the database (`import_chunks`) so that a worker on another
//! host can read it, in chunks so that neither side ever holds it whole. It is personal
//! data: it is deleted when its import completes or fails.

use std::io::{self, Read};

use diesel::prelude::*;

use crate::error::{Error, Result};
use crate::schema::import_chunks;
use crate::store::sql_types::Id;
use crate::store::{DbConnection, Pool, checkout};

/// Bytes per stored chunk.
pub const CHUNK_BYTES: usize = 1024 * 1024;

#[derive(Insertable)]
#[diesel(table_name = import_chunks)]
struct ChunkRow<'a> {
    import_id: Id,
    seq: i32,
    data: &'a [u8],
}

/// Stores everything `file` holds as the import's chunks; answers the bytes stored.
pub(crate) fn store(conn: &mut DbConnection, import_id: Id, file: &mut impl Read) -> Result<i64> {
    let mut buffer = vec![0u8; CHUNK_BYTES];
    let mut total = 0i64;
    for seq in 0.. {
        let filled = fill(file, &mut buffer)
            .map_err(|e| Error::Internal(format!("reading the uploaded file: {e}")))?;
        if filled == 0 {
            break;
        }
        diesel::insert_into(import_chunks::table)
            .values(&ChunkRow {
                import_id,
                seq,
                data: &buffer[..filled],
            })
            .execute(conn)?;
        total += filled as i64;
    }
    Ok(total)
}

/// Reads until `buffer` is full or the input ends.
fn fill(file: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Deletes the file of an import.
pub(crate) fn delete(conn: &mut DbConnection, import_id: Id) -> Result<()> {
    diesel::delete(import_chunks::table.filter(import_chunks::import_id.eq(import_id)))
        .execute(conn)?;
    Ok(())
}

/// The stored file as a reader, fetching one chunk at a time on a connection of its own
/// (the import's writes hold another).
pub struct StoredFile {
    pool: Pool,
    import_id: Id,
    next_seq: i32,
    chunk: Vec<u8>,
    pos: usize,
    ended: bool,
}

impl StoredFile {
    pub fn open(pool: Pool, import_id: Id) -> Self {
        StoredFile {
            pool,
            import_id,
            next_seq: 0,
            chunk: Vec::new(),
            pos: 0,
            ended: false,
        }
    }

    fn fetch(&mut self) -> Result<()> {
        let mut conn = checkout(&self.pool)?;
        let chunk: Option<Vec<u8>> = import_chunks::table
            .find((self.import_id, self.next_seq))
            .select(import_chunks::data)
            .first(&mut *conn)
            .optional()?;
        match chunk {
            Some(data) => {
                self.chunk = data;
                self.pos = 0;
                self.next_seq += 1;
            }
            None => self.ended = true,
        }
        Ok(())
    }
}

impl Read for StoredFile {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.chunk.len() && !self.ended {
            self.fetch().map_err(io::Error::other)?;
        }
        let available = &self.chunk[self.pos.min(self.chunk.len())..];
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.pos += n;
        Ok(n)
    }
}
