//! Many rows in one SQLite statement without JSON: a batch's rows are bound as a `values` list
//! of placeholders instead of a JSON array that SQLite would parse again for every field.
//!
//! The lists come in a few fixed lengths, so each statement text is prepared once per connection
//! and then taken from sqlx's statement cache. Inserts split a batch exactly into those lengths
//! ([`exact`]); look-ups, where a repeated key changes nothing, fill their last list by repeating
//! a key ([`padded`]) and so take fewer statements.
//!
//! A look-up's answer comes back the other way round, as one JSON array in one row ([`packed`]):
//! sqlx hands SQLite's rows over from the connection's thread one at a time, and each wakes the
//! waiting task, which on a loaded single core costs two context switches per row.
//!
//! Postgres keeps its JSON array parameter: one round trip per batch matters more there than the
//! parse.

use std::ops::Range;

/// The lengths a `values` list comes in, longest first: powers of two, so `n` rows take at most
/// `n / 128 + 7` inserts. 128 rows of the widest insert (12 columns) bind 1,536 parameters, far
/// below SQLite's limit of 32,766.
const SHAPES: [usize; 8] = [128, 64, 32, 16, 8, 4, 2, 1];

/// The most repeated rows a padded list may carry: a repeated key costs an index look-up, a
/// further statement a round trip to the connection's thread, worth a few dozen look-ups.
const MAX_PADDING: usize = 32;

/// A run of consecutive rows bound to one statement of `len` rows: rows `rows`, and when `len`
/// is longer, the last row repeated to fill it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub rows: Range<usize>,
    pub len: usize,
}

impl Chunk {
    /// The row index for each of the statement's `len` rows.
    pub fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        let last = self.rows.end - 1;
        (0..self.len).map(move |k| (self.rows.start + k).min(last))
    }
}

/// Splits `n` rows into lists of the fixed lengths, each filled exactly (for inserts).
pub fn exact(n: usize) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < n {
        let len = SHAPES.iter().copied().find(|&s| s <= n - at).unwrap_or(1);
        out.push(Chunk {
            rows: at..at + len,
            len,
        });
        at += len;
    }
    out
}

/// Splits `n` rows into lists of the fixed lengths, where the last list may repeat its last row
/// to reach the next length up (for look-ups).
pub fn padded(n: usize) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < n {
        let left = n - at;
        let len = if left >= SHAPES[0] {
            SHAPES[0]
        } else {
            // The shortest length that holds the rest, unless it would repeat too many rows:
            // then the longest full list, and the rest after it.
            let holds = SHAPES
                .iter()
                .copied()
                .rev()
                .find(|&s| s >= left)
                .unwrap_or(SHAPES[0]);
            if holds - left <= MAX_PADDING {
                holds
            } else {
                SHAPES.iter().copied().find(|&s| s <= left).unwrap_or(1)
            }
        };
        let take = len.min(left);
        out.push(Chunk {
            rows: at..at + take,
            len,
        });
        at += take;
    }
    out
}

/// `(?, ?), (?, ?)`: `rows` rows of `cols` anonymous placeholders. Numbered ones (`$7`) would
/// cost a search of the statement's parameter names per parameter when sqlx binds them, which
/// grows with the square of a list's length.
pub fn placeholders(rows: usize, cols: usize) -> String {
    let row = format!("({})", vec!["?"; cols].join(", "));
    vec![row; rows].join(", ")
}

/// `inner` (a SQLite `select` whose result columns are named `columns`, comma-separated), with
/// its rows packed into one row of one column: a JSON array of arrays, read back by [`unpack`].
pub fn packed(inner: &str, columns: &str) -> String {
    format!("select json_group_array(json_array({columns})) from ({inner})")
}

/// The rows of a [`packed`] answer; `T` is a tuple, or a struct with its fields in column order.
pub fn unpack<T: serde::de::DeserializeOwned>(json: &str) -> Result<Vec<T>, sqlx::Error> {
    serde_json::from_str(json).map_err(|e| sqlx::Error::Decode(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lens(chunks: &[Chunk]) -> Vec<usize> {
        chunks.iter().map(|c| c.len).collect()
    }

    /// Every row is covered once, in order, by chunks of the fixed lengths.
    fn covers(chunks: &[Chunk], n: usize) -> bool {
        let mut at = 0;
        for c in chunks {
            if c.rows.start != at || c.rows.is_empty() || c.rows.len() > c.len {
                return false;
            }
            if !SHAPES.contains(&c.len) {
                return false;
            }
            at = c.rows.end;
        }
        at == n
    }

    #[test]
    fn inserts_split_exactly_into_the_fixed_lengths() {
        let table: [(usize, &[usize]); 7] = [
            (0, &[]),
            (1, &[1]),
            (3, &[2, 1]),
            (8, &[8]),
            (41, &[32, 8, 1]),
            (127, &[64, 32, 16, 8, 4, 2, 1]),
            (300, &[128, 128, 32, 8, 4]),
        ];
        for (n, want) in table {
            let chunks = exact(n);
            assert_eq!(lens(&chunks), want, "{n} rows");
            assert!(covers(&chunks, n), "{n} rows");
            assert!(chunks.iter().all(|c| c.rows.len() == c.len), "{n} rows");
        }
        for n in 0..600 {
            assert!(covers(&exact(n), n), "{n} rows");
        }
    }

    #[test]
    fn look_ups_pad_their_last_list_and_take_few_statements() {
        let table: [(usize, &[usize]); 8] = [
            (0, &[]),
            (1, &[1]),
            (3, &[4]),
            (9, &[16]),
            (33, &[64]),
            (65, &[64, 1]),
            (100, &[128]),
            (300, &[128, 128, 64]),
        ];
        for (n, want) in table {
            let chunks = padded(n);
            assert_eq!(lens(&chunks), want, "{n} rows");
            assert!(covers(&chunks, n), "{n} rows");
        }
        for n in 0..600 {
            let chunks = padded(n);
            assert!(covers(&chunks, n), "{n} rows");
            assert!(chunks.len() <= n / 128 + 3, "{n} rows: {:?}", lens(&chunks));
        }
    }

    #[test]
    fn a_padded_list_repeats_its_last_row() {
        let c = Chunk { rows: 5..8, len: 8 };
        assert_eq!(c.indices().collect::<Vec<_>>(), [5, 6, 7, 7, 7, 7, 7, 7]);
    }

    #[test]
    fn placeholders_are_rows_of_anonymous_parameters() {
        assert_eq!(placeholders(2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(placeholders(1, 1), "(?)");
    }
}
