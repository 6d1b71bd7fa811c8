//! Bias (llama.cpp's penalty sign rule) and top-k selection of one logit row.

use crate::plan::{Bias, Candidates};

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

/// The k largest logits, best first; ties go to the lower id. NaN sorts last.
pub fn top_k(row: &[f32], k: usize, idx: &mut Vec<u32>) -> Candidates {
    let k = k.min(row.len());
    let key = |&i: &u32| {
        let v = row[i as usize];
        (if v.is_nan() { f32::NEG_INFINITY } else { v }, std::cmp::Reverse(i))
    };
    let better = |a: &u32, b: &u32| key(b).partial_cmp(&key(a)).unwrap_or(std::cmp::Ordering::Equal);
    idx.clear();
    if k == 1 {
        let best = (0..row.len() as u32).max_by(|a, b| better(b, a)).unwrap_or(0);
        idx.push(best);
    } else {
        idx.extend(0..row.len() as u32);
        if k < idx.len() {
            idx.select_nth_unstable_by(k - 1, better);
            idx.truncate(k);
        }
        idx.sort_by(better);
    }
    Candidates { ids: idx.clone(), logits: idx.iter().map(|&i| row[i as usize]).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn penalty_sign_rule_and_ban() {
        let mut row = vec![2.0, -2.0, 1.0, 0.5];
        apply_bias(&mut row, &[(0, 2.0, 0.0), (1, 2.0, 0.0), (2, 1.0, -0.25), (3, 1.0, f32::NEG_INFINITY)]);
        assert_eq!(row, vec![1.0, -4.0, 0.75, f32::NEG_INFINITY]);
    }

    #[test]
    fn top_k_orders_best_first_and_breaks_ties_by_id() {
        let row = [0.5, 3.0, 3.0, -1.0, 2.0, f32::NAN];
        let mut idx = Vec::new();
        let c = top_k(&row, 3, &mut idx);
        assert_eq!(c.ids, vec![1, 2, 4]);
        assert_eq!(c.logits, vec![3.0, 3.0, 2.0]);
        assert_eq!(top_k(&row, 1, &mut idx).ids, vec![1]);
        let all = top_k(&row, 10, &mut idx);
        assert_eq!(all.ids, vec![1, 2, 4, 0, 3, 5]);
    }
}
