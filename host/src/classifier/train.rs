//! Multinomial logistic regression on sparse features, trained by stochastic gradient descent:
//! a small trainer of our own, as no maintained Rust crate fits sparse multinomial problems.
//!
//! The loss is the mean cross-entropy plus `l2 / 2 · ‖W‖²` (the biases are not penalised). L2
//! is applied lazily through one scale factor for all weights, so a step touches only the
//! features of its example. The learning rate decays as `η₀ / (1 + l2 · η₀ · t)` (Bottou), and
//! examples are visited in an order drawn from a fixed seed: the same data gives the same model.

use super::features::Sparse;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainOptions {
    pub epochs: usize,
    pub l2: f32,
    pub learning_rate: f32,
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self { epochs: 30, l2: 1e-5, learning_rate: 0.5, seed: 0x5eed }
    }
}

/// Weights stored feature-major (`weights[feature * classes + class]`): scoring and updating an
/// example walk its features, each touching one contiguous row.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    classes: usize,
    features: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl Model {
    /// A model from its stored parts; `None` if their sizes disagree.
    pub fn from_parts(classes: usize, features: usize, weights: Vec<f32>, bias: Vec<f32>) -> Option<Self> {
        (bias.len() == classes && features.checked_mul(classes) == Some(weights.len())).then_some(Self {
            classes,
            features,
            weights,
            bias,
        })
    }

    /// `(classes, features, weights, bias)`, as [`Model::from_parts`] takes them.
    pub fn parts(&self) -> (usize, usize, &[f32], &[f32]) {
        (self.classes, self.features, &self.weights, &self.bias)
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The model keeping only the feature rows `keep` says yes to, renumbered in order: what
    /// pruning features that carry no weight does to the matrix.
    pub fn select_features(&self, keep: &[bool]) -> Self {
        let mut weights = Vec::new();
        let mut features = 0;
        for (feature, row) in self.weights.chunks_exact(self.classes.max(1)).enumerate() {
            if keep.get(feature).copied().unwrap_or(false) {
                weights.extend_from_slice(row);
                features += 1;
            }
        }
        Self { classes: self.classes, features, weights, bias: self.bias.clone() }
    }

    /// The largest absolute weight of each feature: how much it can move any class.
    pub fn feature_strengths(&self) -> Vec<f32> {
        self.weights
            .chunks_exact(self.classes.max(1))
            .map(|row| row.iter().fold(0.0_f32, |max, weight| max.max(weight.abs())))
            .collect()
    }

    /// The probability of each class for `x`, summing to 1.
    pub fn probabilities(&self, x: &Sparse) -> Vec<f32> {
        let mut scores = self.bias.clone();
        self.add_scores(x, 1.0, &mut scores);
        softmax(&mut scores);
        scores
    }

    fn add_scores(&self, x: &Sparse, scale: f32, scores: &mut [f32]) {
        for &(feature, value) in x {
            let feature = feature as usize;
            if feature >= self.features {
                continue;
            }
            let row = &self.weights[feature * self.classes..(feature + 1) * self.classes];
            for (score, weight) in scores.iter_mut().zip(row) {
                *score += scale * value * weight;
            }
        }
    }
}

fn softmax(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for score in scores.iter_mut() {
        *score = (*score - max).exp();
        sum += *score;
    }
    if sum > 0.0 {
        for score in scores.iter_mut() {
            *score /= sum;
        }
    }
}

/// Trains on `examples` (`(features, class)`, classes in `0..classes`, features in
/// `0..features`). `keep_going` is asked between epochs: training stops early (returning `None`)
/// when it says no, so a newer request can take over.
pub fn train(
    examples: &[(Sparse, usize)],
    classes: usize,
    features: usize,
    options: TrainOptions,
    mut keep_going: impl FnMut() -> bool,
) -> Option<Model> {
    let mut model =
        Model { classes, features, weights: vec![0.0; features * classes], bias: vec![0.0; classes] };
    if classes == 0 || examples.is_empty() {
        return Some(model);
    }
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut rng = options.seed | 1;
    let mut scale = 1.0_f32;
    let mut step = 0u64;
    let mut scores = vec![0.0_f32; classes];
    for _ in 0..options.epochs {
        if !keep_going() {
            return None;
        }
        // Fisher–Yates with xorshift: a fixed, platform-independent order.
        for i in (1..order.len()).rev() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            order.swap(i, (rng % (i as u64 + 1)) as usize);
        }
        for &index in &order {
            let (x, label) = &examples[index];
            let rate = options.learning_rate / (1.0 + options.l2 * options.learning_rate * step as f32);
            step += 1;
            scores.copy_from_slice(&model.bias);
            model.add_scores(x, scale, &mut scores);
            softmax(&mut scores);
            scores[*label] -= 1.0; // now the gradient of the loss by the scores
            scale *= 1.0 - rate * options.l2;
            for &(feature, value) in x {
                let feature = feature as usize;
                if feature >= features {
                    continue;
                }
                let row = &mut model.weights[feature * classes..(feature + 1) * classes];
                for (weight, gradient) in row.iter_mut().zip(&scores) {
                    *weight -= rate * gradient * value / scale;
                }
            }
            for (bias, gradient) in model.bias.iter_mut().zip(&scores) {
                *bias -= rate * gradient;
            }
            if scale < 1e-4 {
                for weight in &mut model.weights {
                    *weight *= scale;
                }
                scale = 1.0;
            }
        }
    }
    for weight in &mut model.weights {
        *weight *= scale;
    }
    Some(model)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_separable_problem_and_is_deterministic() {
        let examples = vec![
            (vec![(0, 1.0)], 0),
            (vec![(1, 1.0)], 1),
            (vec![(0, 0.7), (2, 0.7)], 0),
            (vec![(1, 0.7), (2, 0.7)], 1),
        ];
        let model = train(&examples, 2, 3, TrainOptions::default(), || true).unwrap();
        assert!(model.probabilities(&vec![(0, 1.0)])[0] > 0.8);
        assert!(model.probabilities(&vec![(1, 1.0)])[1] > 0.8);
        // A feature seen with both classes says little either way.
        let p = model.probabilities(&vec![(2, 1.0)]);
        assert!((p[0] - 0.5).abs() < 0.2, "{p:?}");
        assert_eq!(model, train(&examples, 2, 3, TrainOptions::default(), || true).unwrap());
    }

    #[test]
    fn stops_when_told() {
        let examples = vec![(vec![(0, 1.0)], 0)];
        assert!(train(&examples, 1, 1, TrainOptions::default(), || false).is_none());
    }
}
