//! Sparse bias (llama.cpp's repeat-penalty sign rule) and top-k selection of a logit row.

use std::cmp::Ordering;

use wollama_plan::{Bias, Candidates};

/// For each (token, penalty, add): a positive logit is divided by the penalty, any other
/// multiplied by it, then `add` is added (-inf bans the token).
pub fn apply_bias(row: &mut [f32], bias: &[Bias]) {
    for &(tok, penalty, add) in bias {
        if let Some(l) = row.get_mut(tok as usize) {
            if *l > 0.0 {
                *l /= penalty;
            } else {
                *l *= penalty;
            }
            *l += add;
        }
    }
}

/// NaN ranks below everything (it never wins a comparison).
#[inline]
fn key(v: f32) -> f32 {
    if v.is_nan() {
        f32::NEG_INFINITY
    } else {
        v
    }
}

/// Whether (va, a) ranks before (vb, b): higher logit first, lower id on ties.
#[inline]
fn before(va: f32, a: u32, vb: f32, b: u32) -> bool {
    let (va, vb) = (key(va), key(vb));
    va > vb || (va == vb && a < b)
}

/// The k best (id, logit) of `row`, best first, ties to the lower id. `idx` is scratch
/// (reused between calls to avoid allocating a vocabulary-sized buffer per step).
pub fn top_k(row: &[f32], k: usize, idx: &mut Vec<u32>) -> Candidates {
    let n = row.len();
    let k = k.min(n);
    idx.clear();
    if k == 0 {
        return Candidates::default();
    }
    if k <= 64 && k * 16 <= n {
        // One pass keeping a sorted list of the best k: after the first few thousand ids a
        // candidate almost never beats the current k-th, so this is a compare per logit.
        let mut best: Vec<(f32, u32)> = Vec::with_capacity(k + 1);
        for (i, &v) in row.iter().enumerate() {
            let i = i as u32;
            if best.len() == k {
                let &(lv, li) = best.last().expect("k >= 1");
                if !before(v, i, lv, li) {
                    continue;
                }
                best.pop();
            }
            // Ids arrive in increasing order, so among equal logits the new one goes last.
            let at = best.partition_point(|&(bv, bi)| before(bv, bi, v, i));
            best.insert(at, (v, i));
        }
        return Candidates {
            ids: best.iter().map(|b| b.1).collect(),
            logits: best.iter().map(|b| b.0).collect(),
        };
    }
    let order = |a: &u32, b: &u32| {
        let (va, vb) = (row[*a as usize], row[*b as usize]);
        if before(va, *a, vb, *b) {
            Ordering::Less
        } else if before(vb, *b, va, *a) {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    };
    idx.extend(0..n as u32);
    if k < n {
        idx.select_nth_unstable_by(k - 1, order);
        idx.truncate(k);
    }
    idx.sort_unstable_by(order);
    Candidates {
        ids: idx.clone(),
        logits: idx.iter().map(|&i| row[i as usize]).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(row: &[f32], k: usize) -> Vec<u32> {
        let mut ids: Vec<u32> = (0..row.len() as u32).collect();
        ids.sort_by(|&a, &b| {
            let (va, vb) = (key(row[a as usize]), key(row[b as usize]));
            vb.partial_cmp(&va).unwrap().then(a.cmp(&b))
        });
        ids.truncate(k);
        ids
    }

    #[test]
    fn penalty_sign_rule_and_ban() {
        let mut row = vec![2.0, -2.0, 1.0, 0.5, 0.0];
        apply_bias(
            &mut row,
            &[
                (0, 2.0, 0.0),
                (1, 2.0, 0.0),
                (2, 1.0, -0.25),
                (3, 1.0, f32::NEG_INFINITY),
                (4, 3.0, 0.5),
                (99, 2.0, 1.0),
            ],
        );
        assert_eq!(row, vec![1.0, -4.0, 0.75, f32::NEG_INFINITY, 0.5]);
    }

    #[test]
    fn both_paths_order_best_first_with_ties_to_lower_ids() {
        let row = [0.5, 3.0, 3.0, -1.0, 2.0, f32::NAN, f32::NEG_INFINITY, 3.0];
        let mut idx = Vec::new();
        let c = top_k(&row, 3, &mut idx);
        assert_eq!(c.ids, vec![1, 2, 7]);
        assert_eq!(c.logits, vec![3.0, 3.0, 3.0]);
        let all = top_k(&row, 100, &mut idx);
        assert_eq!(&all.ids[..6], &[1, 2, 7, 4, 0, 3]);
        // NaN and -inf come last; either order is a tie at -inf ranked by id.
        assert_eq!(&all.ids[6..], &[5, 6]);

        // A long row with many ties exercises the single-pass path; compare with a full sort.
        let long: Vec<f32> = (0..5000u32).map(|i| ((i * 7919) % 613) as f32 * 0.5).collect();
        for k in [1usize, 2, 10, 40, 64, 65, 400, 5000] {
            let c = top_k(&long, k, &mut idx);
            assert_eq!(c.ids, naive(&long, k), "k = {k}");
            assert!(c.logits.iter().zip(&c.ids).all(|(&l, &i)| l == long[i as usize]));
        }
    }
}
