//! Shared helpers for the integration tests: the discrete-time LQR solution.
#![allow(dead_code)]

use augur_planner::testing::LinearQuadratic;
use nalgebra::DMatrix;

/// Solution of the discounted discrete-time LQR problem of `model`.
pub struct Lqr {
    /// `[n, n]` row-major value matrix (V(z) = -zᵀPz).
    pub p: Vec<f64>,
    /// `[m, n]` row-major gain (u* = -K z).
    pub k: Vec<f64>,
}

/// Iterates the discounted Riccati equation to convergence.
pub fn solve_lqr(model: &LinearQuadratic, discount: f64) -> Lqr {
    let (n, m) = (model.n, model.m);
    let a = DMatrix::from_row_slice(n, n, &model.a);
    let b = DMatrix::from_row_slice(n, m, &model.b);
    let q = DMatrix::from_row_slice(n, n, &model.q);
    let r = DMatrix::from_row_slice(m, m, &model.r);
    let mut p = q.clone();
    for _ in 0..100_000 {
        let s = &r + discount * b.transpose() * &p * &b;
        let k = discount
            * s.clone().try_inverse().expect("R + BᵀPB is invertible")
            * b.transpose()
            * &p
            * &a;
        let next =
            &q + discount * a.transpose() * &p * &a - discount * a.transpose() * &p * &b * &k;
        let diff = (&next - &p).abs().max();
        p = next;
        if diff < 1e-13 {
            break;
        }
    }
    let s = &r + discount * b.transpose() * &p * &b;
    let k = discount * s.try_inverse().expect("invertible") * b.transpose() * &p * &a;
    let row_major = |mat: &DMatrix<f64>| {
        let mut v = Vec::with_capacity(mat.len());
        for i in 0..mat.nrows() {
            for j in 0..mat.ncols() {
                v.push(mat[(i, j)]);
            }
        }
        v
    };
    Lqr {
        p: row_major(&p),
        k: row_major(&k),
    }
}

/// `-K z` as f32.
pub fn lqr_action(lqr: &Lqr, z: &[f32], m: usize) -> Vec<f32> {
    let n = z.len();
    (0..m)
        .map(|i| {
            -(0..n)
                .map(|j| lqr.k[i * n + j] * f64::from(z[j]))
                .sum::<f64>() as f32
        })
        .collect()
}

/// `|a - b| / |b|` (Euclidean).
pub fn relative_error(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(x - y).powi(2))
        .sum::<f64>()
        .sqrt();
    let den: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum::<f64>().sqrt();
    num / den
}
