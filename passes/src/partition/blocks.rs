//! Placement constraints: lists of root buffers that must lie back to back. A new
//! constraint merges with the blocks it touches when that is consistent (each touched
//! block appears whole in the middle, or as a matching end at either side), else it is
//! refused and the caller falls back (a copy kernel instead of a view).

use std::collections::HashMap;

/// Disjoint ordered blocks of roots.
#[derive(Clone, Debug, Default)]
pub(crate) struct Blocks {
    blocks: Vec<Option<Vec<usize>>>,
    /// Root -> (block, index in it).
    at: HashMap<usize, (usize, usize)>,
}

impl Blocks {
    /// The block holding `root`, if any.
    #[cfg(test)]
    pub fn block_of(&self, root: usize) -> Option<&[usize]> {
        self.at
            .get(&root)
            .and_then(|&(b, _)| self.blocks[b].as_deref())
    }

    /// Require `roots` (distinct) to lie back to back in this order. Returns whether the
    /// constraint holds now (it may already have held).
    pub fn require(&mut self, roots: &[usize]) -> bool {
        if roots.len() < 2 {
            return true;
        }
        let mut distinct = roots.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() != roots.len() {
            return false;
        }
        // Split into runs: consecutive roots at consecutive places of one block, or a free
        // root on its own.
        struct Run {
            block: Option<usize>,
            start: usize,
            len: usize,
        }
        let mut runs: Vec<Run> = Vec::new();
        for &r in roots {
            let here = self.at.get(&r).copied();
            if let (Some(last), Some((b, i))) = (runs.last_mut(), here)
                && last.block == Some(b)
                && last.start + last.len == i
            {
                last.len += 1;
                continue;
            }
            runs.push(match here {
                Some((b, i)) => Run {
                    block: Some(b),
                    start: i,
                    len: 1,
                },
                None => Run {
                    block: None,
                    start: 0,
                    len: 1,
                },
            });
        }
        // Each block may be touched by one run only.
        let mut touched = Vec::new();
        for run in &runs {
            if let Some(b) = run.block {
                if touched.contains(&b) {
                    return false;
                }
                touched.push(b);
            }
        }
        let k = runs.len();
        if k == 1 && runs[0].block.is_some() {
            return true;
        }
        let block_len = |b: usize| self.blocks[b].as_ref().map_or(0, |v| v.len());
        for (i, run) in runs.iter().enumerate() {
            let Some(b) = run.block else { continue };
            let ends_block = run.start + run.len == block_len(b);
            let starts_block = run.start == 0;
            let ok = if i == 0 {
                ends_block
            } else if i == k - 1 {
                starts_block
            } else {
                starts_block && ends_block
            };
            if !ok {
                return false;
            }
        }
        // Build the merged block: the head of the first run's block, every root of the
        // constraint, the tail of the last run's block.
        let mut merged = Vec::new();
        if let Some(b) = runs[0].block {
            merged
                .extend_from_slice(&self.blocks[b].as_ref().expect("live block")[..runs[0].start]);
        }
        merged.extend_from_slice(roots);
        if let Some(b) = runs[k - 1].block {
            let v = self.blocks[b].as_ref().expect("live block");
            merged.extend_from_slice(&v[runs[k - 1].start + runs[k - 1].len..]);
        }
        for b in touched {
            self.blocks[b] = None;
        }
        let id = self.blocks.len();
        for (i, &r) in merged.iter().enumerate() {
            self.at.insert(r, (id, i));
        }
        self.blocks.push(Some(merged));
        true
    }

    /// The blocks, in creation order.
    pub fn into_blocks(self) -> Vec<Vec<usize>> {
        self.blocks.into_iter().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Blocks;

    #[test]
    fn disjoint_constraints_make_separate_blocks() {
        let mut b = Blocks::default();
        assert!(b.require(&[1, 2]));
        assert!(b.require(&[3, 4]));
        assert_eq!(b.into_blocks(), vec![vec![1, 2], vec![3, 4]]);
    }

    #[test]
    fn a_constraint_inside_a_block_already_holds() {
        let mut b = Blocks::default();
        assert!(b.require(&[1, 2, 3, 4]));
        assert!(b.require(&[2, 3]));
        assert!(!b.require(&[3, 2]), "reversed order cannot hold");
        assert!(!b.require(&[1, 3]), "a gap cannot hold");
        assert_eq!(b.block_of(4), Some(&[1, 2, 3, 4][..]));
    }

    #[test]
    fn blocks_join_at_matching_ends() {
        let mut b = Blocks::default();
        assert!(b.require(&[1, 2]));
        assert!(b.require(&[3, 4]));
        // Tail of [1,2] then head of [3,4], with a free root between.
        assert!(b.require(&[2, 9, 3]));
        assert_eq!(b.into_blocks(), vec![vec![1, 2, 9, 3, 4]]);
    }

    #[test]
    fn a_whole_block_may_sit_in_the_middle() {
        let mut b = Blocks::default();
        assert!(b.require(&[5, 6]));
        assert!(b.require(&[1, 5, 6, 7]));
        assert_eq!(b.block_of(1), Some(&[1, 5, 6, 7][..]));
    }

    #[test]
    fn inconsistent_constraints_are_refused() {
        let mut b = Blocks::default();
        assert!(b.require(&[1, 2, 3]));
        assert!(!b.require(&[2, 9]), "2 is followed by 3 already");
        assert!(!b.require(&[9, 2]), "2 is preceded by 1 already");
        assert!(!b.require(&[1, 1]), "a root cannot appear twice");
        assert_eq!(b.into_blocks(), vec![vec![1, 2, 3]]);
    }
}
