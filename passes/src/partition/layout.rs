//! Where each value's bytes lie relative to the units memory planning allocates: a
//! *place* is either a block of roots laid back to back or one root on its own. Every
//! value is a byte range of one place.

use super::program::{Program, ValueId, ValueKind};

/// One allocation unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// Member roots with their byte ranges inside the place, in address order.
    pub members: Vec<(ValueId, usize, usize)>,
    /// Total size in bytes.
    pub bytes: usize,
}

/// Places of a program and the place and offset of every root.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The allocation units.
    pub places: Vec<Place>,
    /// For each root value: its place and byte offset in it (`None` for views).
    root_at: Vec<Option<(usize, usize)>>,
}

impl Layout {
    /// Places from the program's blocks, then one place per root in no block, in value
    /// order.
    pub fn new(p: &Program) -> Layout {
        let mut root_at = vec![None; p.values.len()];
        let mut places = Vec::new();
        for block in &p.blocks {
            let id = places.len();
            let mut off = 0;
            let mut members = Vec::with_capacity(block.len());
            for &r in block {
                let b = p.values[r].ty.size_bytes();
                members.push((r, off, off + b));
                root_at[r] = Some((id, off));
                off += b;
            }
            places.push(Place {
                members,
                bytes: off,
            });
        }
        for (v, val) in p.values.iter().enumerate() {
            if matches!(val.kind, ValueKind::View { .. }) || root_at[v].is_some() {
                continue;
            }
            let b = val.ty.size_bytes();
            root_at[v] = Some((places.len(), 0));
            places.push(Place {
                members: vec![(v, 0, b)],
                bytes: b,
            });
        }
        Layout { places, root_at }
    }

    /// `(place, start, end)` of value `v`'s bytes.
    pub fn loc(&self, p: &Program, v: ValueId) -> (usize, usize, usize) {
        let (root, off) = p.root(v);
        let (place, base) = self.root_at[root].expect("every root has a place");
        let start = base + off;
        (place, start, start + p.values[v].ty.size_bytes())
    }

    /// Roots whose bytes overlap value `v`'s.
    pub fn covered_roots(&self, p: &Program, v: ValueId) -> Vec<ValueId> {
        let (place, start, end) = self.loc(p, v);
        let members = &self.places[place].members;
        let first = members.partition_point(|&(_, _, e)| e <= start);
        members[first..]
            .iter()
            .take_while(|&&(_, s, _)| s < end)
            .map(|&(r, _, _)| r)
            .collect()
    }

    /// Whether two values' bytes overlap.
    pub fn overlaps(&self, p: &Program, a: ValueId, b: ValueId) -> bool {
        let (pa, sa, ea) = self.loc(p, a);
        let (pb, sb, eb) = self.loc(p, b);
        pa == pb && sa < eb && sb < ea
    }
}
