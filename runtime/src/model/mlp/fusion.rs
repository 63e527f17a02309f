//! Fusion found in the ONNX node list before lowering: Mish spelled as
//! `x·tanh(softplus(x))` becomes one pass, and a LayerNormalization whose only
//! reader is such a Mish is folded into it.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb::GraphProto;

/// Mish (`x·tanh(softplus(x))`) and LayerNorm→Mish chains found in the node list.
pub(super) struct Fusion {
    /// Mul node index → the Mish it completes.
    pub(super) mish: HashMap<usize, MishChain>,
    /// Nodes folded into a later one.
    pub(super) skipped: HashSet<usize>,
}

#[derive(Clone)]
pub(super) struct MishChain {
    /// Name of `x`.
    pub(super) x: String,
    /// Index of the node producing `x`, when it is a LayerNormalization folded in.
    pub(super) norm: Option<usize>,
}

impl Fusion {
    pub(super) fn find(graph: &GraphProto) -> Fusion {
        let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (ix, node) in graph.node.iter().enumerate() {
            for input in &node.input {
                consumers.entry(input.as_str()).or_default().push(ix);
            }
        }
        for output in &graph.output {
            consumers
                .entry(output.name.as_str())
                .or_default()
                .push(usize::MAX);
        }
        let producer: HashMap<&str, usize> = graph
            .node
            .iter()
            .enumerate()
            .flat_map(|(ix, n)| n.output.iter().map(move |o| (o.as_str(), ix)))
            .collect();
        let only = |name: &str| -> Option<usize> {
            match consumers.get(name).map(Vec::as_slice) {
                Some([one]) => Some(*one),
                _ => None,
            }
        };
        let mut fusion = Fusion {
            mish: HashMap::new(),
            skipped: HashSet::new(),
        };
        for (sp, node) in graph.node.iter().enumerate() {
            if node.op_type != "Softplus" || node.input.len() != 1 || node.output.len() != 1 {
                continue;
            }
            let x = node.input[0].as_str();
            let Some(th) = only(&node.output[0]) else {
                continue;
            };
            let tanh = &graph.node[th];
            if tanh.op_type != "Tanh" || tanh.output.len() != 1 {
                continue;
            }
            let Some(mul) = only(&tanh.output[0]) else {
                continue;
            };
            let Some(mul_node) = graph.node.get(mul) else {
                continue;
            };
            let pair = [mul_node.input.first(), mul_node.input.get(1)];
            let completes = mul_node.op_type == "Mul"
                && mul_node.input.len() == 2
                && (pair == [Some(&x.to_string()), Some(&tanh.output[0])]
                    || pair == [Some(&tanh.output[0]), Some(&x.to_string())]);
            if !completes {
                continue;
            }
            // Fold a LayerNormalization producing x when Softplus and Mul are its only readers.
            let norm = producer.get(x).copied().filter(|&ln| {
                let n = &graph.node[ln];
                let mut readers = consumers.get(x).cloned().unwrap_or_default();
                readers.sort_unstable();
                let mut expected = vec![sp, mul];
                expected.sort_unstable();
                n.op_type == "LayerNormalization" && n.output.len() == 1 && readers == expected
            });
            fusion.skipped.insert(sp);
            fusion.skipped.insert(th);
            if let Some(ln) = norm {
                fusion.skipped.insert(ln);
            }
            fusion.mish.insert(
                mul,
                MishChain {
                    x: x.to_string(),
                    norm,
                },
            );
        }
        fusion
    }
}
