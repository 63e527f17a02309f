//! Buffer sharing: the lowered tensors' buffers packed into as few physical buffers
//! as their lifetimes allow.

use super::step::{slots_mut, step_buffers, Slot, Step};

/// Assigns the lowered tensors' buffers to as few physical buffers as their lifetimes
/// allow (a linear scan, like a register allocator): a buffer is live from the first
/// step that writes it (inputs: before the first step) to the last step that reads it
/// (outputs: to the end), and a dead buffer's storage is handed to the next tensor
/// defined, never to the output of the step that last reads it. Rewrites every slot
/// and returns the physical buffers' widths (the widest tensor each one holds).
///
/// Without this every intermediate keeps its own `max_rows`-row buffer: 30 MB for a
/// TD-MPC2 1M-sized package at 512 rows, and a working set that spills out of L2.
pub fn share_buffers(
    steps: &mut [Step],
    widths: &[usize],
    inputs: &mut [(Slot, usize)],
    outputs: &mut [(Slot, usize)],
) -> Vec<usize> {
    const NEVER: usize = usize::MAX;
    // Time 0 is before the first step; step i runs at time i + 1.
    let mut first = vec![NEVER; widths.len()];
    let mut last = vec![0; widths.len()];
    for (slot, _) in inputs.iter() {
        first[slot.buf] = 0;
    }
    for (i, step) in steps.iter().enumerate() {
        let (reads, write) = step_buffers(step);
        for b in reads.into_iter().chain([write]) {
            first[b] = first[b].min(i + 1);
            last[b] = last[b].max(i + 1);
        }
    }
    for (slot, _) in outputs.iter() {
        last[slot.buf] = NEVER;
    }
    let mut order: Vec<usize> = (0..widths.len()).filter(|&b| first[b] != NEVER).collect();
    order.sort_by_key(|&b| (first[b], b));
    let mut physical: Vec<usize> = Vec::new();
    let mut assigned = vec![NEVER; widths.len()];
    // (physical buffer, time of its tenant's last use)
    let mut busy: Vec<(usize, usize)> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    for b in order {
        let now = first[b];
        busy.retain(|&(p, until)| {
            let dead = until < now;
            if dead {
                free.push(p);
            }
            !dead
        });
        // The smallest free buffer that fits, else the widest free one (grown).
        let fits = free
            .iter()
            .enumerate()
            .filter(|(_, &p)| physical[p] >= widths[b])
            .min_by_key(|(_, &p)| (physical[p], p))
            .map(|(i, _)| i);
        let widest = || {
            free.iter()
                .enumerate()
                .max_by_key(|(_, &p)| (physical[p], std::cmp::Reverse(p)))
                .map(|(i, _)| i)
        };
        let p = match fits.or_else(widest) {
            Some(i) => free.swap_remove(i),
            None => {
                physical.push(0);
                physical.len() - 1
            }
        };
        physical[p] = physical[p].max(widths[b]);
        assigned[b] = p;
        busy.push((p, last[b]));
    }
    for step in steps.iter_mut() {
        for slot in slots_mut(step) {
            slot.buf = assigned[slot.buf];
        }
    }
    for (slot, _) in inputs.iter_mut().chain(outputs.iter_mut()) {
        slot.buf = assigned[slot.buf];
    }
    physical
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::mlp::kernels::{Binary, Unary};
    use crate::model::mlp::step::Operand;

    fn slot(buf: usize, width: usize) -> Slot {
        Slot {
            buf,
            offset: 0,
            stride: width,
        }
    }

    fn unary(src: usize, dst: usize, width: usize) -> Step {
        Step::Unary {
            f: Unary::Relu,
            src: slot(src, width),
            dst: slot(dst, width),
            width,
        }
    }

    fn bufs(step: &Step) -> (Vec<usize>, usize) {
        step_buffers(step)
    }

    #[test]
    fn dead_buffers_are_reused_but_never_by_the_step_that_reads_them() {
        // in(0) -> 1 -> 2 -> 3; 4 = 1 + 3 (1 stays live); out = 4.
        let mut steps = vec![
            unary(0, 1, 8),
            unary(1, 2, 8),
            unary(2, 3, 8),
            Step::Binary {
                f: Binary::Add,
                flipped: false,
                a: slot(1, 8),
                b: Operand::Rows(slot(3, 8)),
                dst: slot(4, 8),
                width: 8,
            },
        ];
        let mut inputs = vec![(slot(0, 8), 8)];
        let mut outputs = vec![(slot(4, 8), 8)];
        let widths = share_buffers(&mut steps, &[8; 5], &mut inputs, &mut outputs);
        assert_eq!(widths.len(), 3, "5 tensors in 3 buffers: {widths:?}");
        for step in &steps {
            let (reads, write) = bufs(step);
            assert!(!reads.contains(&write), "a step reads the buffer it writes");
        }
        // Tensor 2 takes the input's buffer (dead after the first step), and tensor 4
        // takes it again once 2 is dead; 3 is written while 2 is read, so it cannot.
        let phys: Vec<(Vec<usize>, usize)> = steps.iter().map(bufs).collect();
        assert_eq!(
            phys[1].1, inputs[0].0.buf,
            "tensor 2 takes the dead input's buffer"
        );
        assert_eq!(
            phys[3].1, inputs[0].0.buf,
            "tensor 4 takes it once 2 is dead"
        );
        // Tensor 1 is live until the last step: nothing else may use its buffer.
        let one = phys[0].1;
        assert!(phys[1..3].iter().all(|(_, w)| *w != one));
        assert_ne!(outputs[0].0.buf, one);
    }

    #[test]
    fn a_buffer_grows_to_the_widest_tensor_it_holds() {
        let mut steps = vec![unary(0, 1, 4), unary(1, 2, 16), unary(2, 3, 4)];
        let mut inputs = vec![(slot(0, 4), 4)];
        let mut outputs = vec![(slot(3, 4), 4)];
        let widths = share_buffers(&mut steps, &[4, 4, 16, 4], &mut inputs, &mut outputs);
        assert_eq!(widths.len(), 2);
        let holder = bufs(&steps[1]).1;
        assert_eq!(widths[holder], 16);
    }
}
