//! Agreement between two rankings of the same policies: Spearman's ρ (Pearson's
//! correlation of average ranks, so ties are handled), Kendall's τ-b, and the share
//! of policy pairs both worlds order the same way.

use serde::Serialize;

/// How two worlds rank the same policies.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RankAgreement {
    /// Policies ranked.
    pub policies: usize,
    /// Spearman's rank correlation (ties get their average rank).
    pub spearman: f64,
    /// Kendall's τ-b (corrected for ties).
    pub kendall: f64,
    /// Share of the `n (n - 1) / 2` pairs that both worlds order strictly the same way
    /// (a pair tied in either world does not count as agreeing).
    pub pairwise_agreement: f64,
    /// Pairs the two worlds order oppositely.
    pub discordant_pairs: usize,
}

/// 1-based ranks of `values` in ascending order; tied values share their average rank.
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        // Positions i..=j (0-based) hold equal values: ranks i+1 ..= j+1.
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// Pearson's correlation; `NaN` when either side is constant.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    sxy / (sxx * syy).sqrt()
}

/// Spearman's ρ of `x` and `y` (the same policies in the same order).
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&average_ranks(x), &average_ranks(y))
}

/// Kendall's τ-b, concordant and discordant pair counts of `x` and `y`.
pub fn kendall(x: &[f64], y: &[f64]) -> (f64, usize, usize) {
    let n = x.len();
    let (mut concordant, mut discordant, mut tied_x, mut tied_y) = (0usize, 0usize, 0usize, 0usize);
    for i in 0..n {
        for j in i + 1..n {
            let dx = x[i].total_cmp(&x[j]) as i32;
            let dy = y[i].total_cmp(&y[j]) as i32;
            let (dx, dy) = (
                if x[i] == x[j] { 0 } else { dx },
                if y[i] == y[j] { 0 } else { dy },
            );
            if dx == 0 {
                tied_x += 1;
            }
            if dy == 0 {
                tied_y += 1;
            }
            match dx * dy {
                1 => concordant += 1,
                -1 => discordant += 1,
                _ => {}
            }
        }
    }
    let pairs = n * n.saturating_sub(1) / 2;
    let denominator = (((pairs - tied_x) * (pairs - tied_y)) as f64).sqrt();
    let tau = (concordant as f64 - discordant as f64) / denominator;
    (tau, concordant, discordant)
}

/// How `reference` and `candidate` (one value per policy, higher is better) rank the
/// policies. `None` for fewer than two policies or lengths that differ.
pub fn rank_agreement(reference: &[f64], candidate: &[f64]) -> Option<RankAgreement> {
    let n = reference.len();
    if n < 2 || candidate.len() != n {
        return None;
    }
    let (kendall, concordant, discordant) = kendall(reference, candidate);
    Some(RankAgreement {
        policies: n,
        spearman: spearman(reference, candidate),
        kendall,
        pairwise_agreement: concordant as f64 / (n * (n - 1) / 2) as f64,
        discordant_pairs: discordant,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn ranks_average_ties() {
        assert_eq!(average_ranks(&[10.0, 30.0, 20.0]), vec![1.0, 3.0, 2.0]);
        assert_eq!(
            average_ranks(&[5.0, 1.0, 5.0, 5.0, 0.0]),
            vec![4.0, 2.0, 4.0, 4.0, 1.0]
        );
    }

    #[test]
    fn identical_and_reversed_orders() {
        let x = [-900.0, -400.0, -150.0, -140.0];
        let same = [-1000.0, -300.0, -200.0, -100.0];
        let r = rank_agreement(&x, &same).unwrap();
        assert_eq!(
            (r.spearman, r.kendall, r.pairwise_agreement),
            (1.0, 1.0, 1.0)
        );
        let reversed: Vec<f64> = same.iter().rev().copied().collect();
        let r = rank_agreement(&x, &reversed).unwrap();
        assert_eq!(
            (r.spearman, r.kendall, r.pairwise_agreement),
            (-1.0, -1.0, 0.0)
        );
        assert_eq!(r.discordant_pairs, 6);
    }

    /// Two adjacent swaps among five: Σd² = 4, so ρ = 1 − 6·4 / (5·24) = 0.8; 2 of 10
    /// pairs discordant, so τ = (8 − 2) / 10 = 0.6.
    #[test]
    fn textbook_case_without_ties() {
        let r = rank_agreement(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 1.0, 4.0, 3.0, 5.0]).unwrap();
        assert!(close(r.spearman, 0.8), "{r:?}");
        assert!(close(r.kendall, 0.6), "{r:?}");
        assert!(close(r.pairwise_agreement, 0.8), "{r:?}");
        assert_eq!(r.discordant_pairs, 2);
    }

    /// x = [1, 2, 2, 3] against y = [1, 2, 3, 4]: ranks of x are [1, 2.5, 2.5, 4], so
    /// ρ = 4.5 / √(4.5 · 5); τ-b = 5 / √((6 − 1)(6 − 0)); the tied pair does not agree.
    #[test]
    fn ties_follow_tau_b_and_average_ranks() {
        let r = rank_agreement(&[1.0, 2.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!(close(r.spearman, 4.5 / (4.5f64 * 5.0).sqrt()), "{r:?}");
        assert!(close(r.kendall, 5.0 / 30f64.sqrt()), "{r:?}");
        assert!(close(r.pairwise_agreement, 5.0 / 6.0), "{r:?}");
    }

    #[test]
    fn too_few_or_mismatched_is_none() {
        assert!(rank_agreement(&[1.0], &[1.0]).is_none());
        assert!(rank_agreement(&[1.0, 2.0], &[1.0]).is_none());
    }
}
