//! Liveness of activation places under an order, and their offsets: greedy by size
//! (largest first, each at the lowest aligned offset that overlaps no place alive at the
//! same time). Lifetimes are inclusive at both ends, so a step never writes over a
//! buffer it reads.

use super::schedule::PlaceUse;

/// `[first, last]` step positions during which an activation place holds data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lifetime {
    pub first: usize,
    pub last: usize,
}

/// Lifetimes of the activation places (`None` for others and for unused places).
pub(crate) fn lifetimes(uses: &PlaceUse, order: &[usize]) -> Vec<Option<Lifetime>> {
    let n_places = uses.activation.len();
    let end = order.len();
    let mut life: Vec<Option<Lifetime>> = vec![None; n_places];
    let touch = |pl: usize, at: usize, life: &mut Vec<Option<Lifetime>>| {
        if !uses.activation[pl] {
            return;
        }
        let l = life[pl].get_or_insert(Lifetime {
            first: at,
            last: at,
        });
        l.first = l.first.min(at);
        l.last = l.last.max(at);
    };
    for (at, &s) in order.iter().enumerate() {
        for &pl in uses.writes[s].iter().chain(&uses.reads[s]) {
            touch(pl, at, &mut life);
        }
    }
    for (pl, l) in life.iter_mut().enumerate() {
        if uses.pinned[pl]
            && let Some(l) = l
        {
            l.last = end;
        }
    }
    life
}

/// The largest total size of places alive at one step: no assignment can be smaller.
pub(crate) fn live_peak(life: &[Option<Lifetime>], bytes: &[u64], steps: usize) -> u64 {
    let mut delta = vec![0i128; steps + 2];
    for (pl, l) in life.iter().enumerate() {
        if let Some(l) = l {
            delta[l.first] += i128::from(bytes[pl]);
            delta[l.last + 1] -= i128::from(bytes[pl]);
        }
    }
    let mut cur = 0i128;
    let mut peak = 0i128;
    for d in delta {
        cur += d;
        peak = peak.max(cur);
    }
    peak as u64
}

fn align(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

/// Offsets (relative to the activation region) for every place with a lifetime, and the
/// region's size.
pub(crate) fn assign_offsets(
    life: &[Option<Lifetime>],
    bytes: &[u64],
    alignment: u64,
) -> (Vec<Option<u64>>, u64) {
    let mut todo: Vec<usize> = (0..life.len()).filter(|&p| life[p].is_some()).collect();
    todo.sort_by(|&a, &b| bytes[b].cmp(&bytes[a]).then(a.cmp(&b)));
    let mut offsets: Vec<Option<u64>> = vec![None; life.len()];
    // Placed places sorted by offset: (offset, end, first, last).
    let mut placed: Vec<(u64, u64, usize, usize)> = Vec::with_capacity(todo.len());
    let mut size = 0u64;
    for p in todo {
        let l = life[p].expect("filtered");
        let need = bytes[p].max(1);
        let mut at = 0u64;
        for &(off, end, first, last) in &placed {
            if last < l.first || first > l.last {
                continue;
            }
            if off >= at + need {
                break;
            }
            at = at.max(align(end, alignment));
        }
        offsets[p] = Some(at);
        size = size.max(at + bytes[p]);
        let i = placed.partition_point(|&(off, ..)| off <= at);
        placed.insert(i, (at, at + need, l.first, l.last));
    }
    (offsets, align(size, alignment))
}

#[cfg(test)]
mod tests {
    use super::{Lifetime, assign_offsets, live_peak};

    fn l(first: usize, last: usize) -> Option<Lifetime> {
        Some(Lifetime { first, last })
    }

    #[test]
    fn disjoint_lifetimes_share_memory() {
        let life = [l(0, 1), l(2, 3), l(4, 5)];
        let bytes = [1000, 1000, 1000];
        let (off, size) = assign_offsets(&life, &bytes, 256);
        assert_eq!(off, vec![Some(0), Some(0), Some(0)]);
        assert_eq!(size, 1024);
        assert_eq!(live_peak(&life, &bytes, 6), 1000);
    }

    #[test]
    fn overlapping_lifetimes_get_aligned_disjoint_ranges() {
        // A step reading [0] and writing [1] at step 1: both alive there.
        let life = [l(0, 1), l(1, 2), l(2, 3)];
        let bytes = [300, 500, 100];
        let (off, size) = assign_offsets(&life, &bytes, 256);
        let (a, b, c) = (off[0].unwrap(), off[1].unwrap(), off[2].unwrap());
        assert_eq!(b, 0, "largest first, at the bottom");
        assert_eq!(a, 512);
        assert_eq!(
            c, 512,
            "[2] reuses [0]'s bytes: their lifetimes do not meet"
        );
        assert_eq!(size, 1024);
        for x in [a, b, c] {
            assert_eq!(x % 256, 0);
        }
    }

    #[test]
    fn a_gap_between_placed_buffers_is_used() {
        let life = [l(0, 9), l(0, 9), l(3, 4), l(5, 6)];
        let bytes = [256, 256, 512, 100];
        let (off, _) = assign_offsets(&life, &bytes, 256);
        // [2] goes first (largest) at 0; [0], [1] above it; [3] fits beside [2]'s life.
        assert_eq!(off[2], Some(0));
        assert_eq!(off[3], Some(0));
        assert_eq!(off[0], Some(512));
        assert_eq!(off[1], Some(768));
    }
}
