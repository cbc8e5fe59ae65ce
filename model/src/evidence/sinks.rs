//! Attention sinks: vision tokens a layer parks attention on whatever the query is, which carry
//! no information about the question (removing them does not change the answer) and swamp a raw
//! map. Two signs give one away, each judged against the other vision tokens of the same layer
//! with robust statistics (median and median absolute deviation, so the sinks themselves do not
//! hide the outlier):
//! - outlying attention mass across unrelated queries: every text query after the video gives
//!   the token many times its uniform share, so its *median* share over the queries stands out;
//! - an outlying hidden-state norm (the "massive activations" sinks carry).

/// A token is an outlier when its value exceeds the median by this many scaled median absolute
/// deviations (about standard deviations for normal data) ...
const OUTLIER_DEVIATIONS: f64 = 6.0;
/// ... and its median attention share is at least this many times the uniform share ...
const ATTENTION_FACTOR: f64 = 4.0;
/// ... or its hidden-state norm at least this many times the median norm.
const NORM_FACTOR: f64 = 4.0;
/// Fewer vision tokens than this give no meaningful "outlier".
const MIN_TOKENS: usize = 4;

/// Median of `values` (0 for none).
fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// Indices whose value is a robust outlier above the rest and at least `floor`.
fn outliers(values: &[f64], floor: f64) -> Vec<usize> {
    if values.len() < MIN_TOKENS {
        return Vec::new();
    }
    let m = median(values);
    let deviations: Vec<f64> = values.iter().map(|v| (v - m).abs()).collect();
    let spread = 1.4826 * median(&deviations);
    values
        .iter()
        .enumerate()
        .filter(|&(_, &v)| v >= floor && v > m + OUTLIER_DEVIATIONS * spread)
        .map(|(i, _)| i)
        .collect()
}

/// Sinks by attention: `rows[q][v]` is query `q`'s attention (head mean) on vision token `v`.
/// Each row is turned into shares of its vision mass times the token count (1 = uniform); a
/// token whose median over the queries is an outlier is a sink.
pub fn attention_sinks(rows: &[Vec<f32>]) -> Vec<usize> {
    let Some(tokens) = rows.first().map(Vec::len) else {
        return Vec::new();
    };
    let shares: Vec<Vec<f64>> = rows
        .iter()
        .filter_map(|row| {
            let total: f64 = row.iter().map(|&w| f64::from(w)).sum();
            (total > 0.0 && row.len() == tokens).then(|| {
                row.iter()
                    .map(|&w| f64::from(w) / total * tokens as f64)
                    .collect()
            })
        })
        .collect();
    if shares.is_empty() {
        return Vec::new();
    }
    let typical: Vec<f64> = (0..tokens)
        .map(|v| median(&shares.iter().map(|s| s[v]).collect::<Vec<_>>()))
        .collect();
    outliers(&typical, ATTENTION_FACTOR)
}

/// Sinks by hidden-state norm: `norms[v]` is vision token `v`'s norm entering the layer.
pub fn norm_sinks(norms: &[f32]) -> Vec<usize> {
    let values: Vec<f64> = norms.iter().map(|&n| f64::from(n)).collect();
    let floor = NORM_FACTOR * median(&values);
    outliers(&values, floor)
}

/// `map` with the `sinks` set to zero and the other tokens scaled up so the map keeps its total:
/// the mass the sinks took is shared out in proportion to what each other token had. A map whose
/// whole mass sat on sinks becomes all zeros.
pub fn mask_sinks(map: &[f32], sinks: &[usize]) -> Vec<f32> {
    if sinks.is_empty() {
        return map.to_vec();
    }
    let total: f64 = map.iter().map(|&w| f64::from(w)).sum();
    let kept: f64 = map
        .iter()
        .enumerate()
        .filter(|(i, _)| !sinks.contains(i))
        .map(|(_, &w)| f64::from(w))
        .sum();
    let scale = if kept > 0.0 { total / kept } else { 0.0 };
    map.iter()
        .enumerate()
        .map(|(i, &w)| {
            if sinks.contains(&i) {
                0.0
            } else {
                (f64::from(w) * scale) as f32
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attention rows of `queries` unrelated queries over 16 vision tokens: each query looks at a
    /// different token of its own (a little), and token 5 takes most of every row.
    fn rows_with_a_sink(queries: usize) -> Vec<Vec<f32>> {
        (0..queries)
            .map(|q| {
                let mut row = vec![0.01f32; 16];
                row[(q * 3 + 1) % 16] += 0.05;
                row[5] = 0.7;
                row
            })
            .collect()
    }

    #[test]
    fn a_token_that_takes_most_attention_of_every_query_is_removed_and_the_rest_renormalised() {
        let rows = rows_with_a_sink(8);
        let sinks = attention_sinks(&rows);
        assert_eq!(sinks, vec![5]);
        let row = &rows[0];
        let masked = mask_sinks(row, &sinks);
        assert_eq!(masked[5], 0.0);
        let total: f32 = row.iter().sum();
        let masked_total: f32 = masked.iter().sum();
        assert!(
            (total - masked_total).abs() < 1e-5,
            "{total} vs {masked_total}"
        );
        // The other tokens keep their proportions: the query's own token is still 6x the rest.
        assert!((masked[1] / masked[0] - 6.0).abs() < 1e-4);
        // Without the sink the query's own token is the top of the map; raw, the sink was.
        let top = |m: &[f32]| (0..m.len()).max_by(|&a, &b| m[a].total_cmp(&m[b])).unwrap();
        assert_eq!(top(row), 5);
        assert_eq!(top(&masked), 1);
    }

    #[test]
    fn a_token_one_query_looks_at_hard_is_not_a_sink() {
        // Token 9 takes most of one query's attention only: that is looking, not a sink.
        let mut rows: Vec<Vec<f32>> = (0..8)
            .map(|q| {
                let mut row = vec![0.05f32; 16];
                row[q] += 0.02;
                row
            })
            .collect();
        rows[3][9] = 0.9;
        assert!(attention_sinks(&rows).is_empty());
    }

    #[test]
    fn an_outlying_hidden_state_norm_marks_a_sink() {
        let mut norms: Vec<f32> = (0..12).map(|i| 1.0 + 0.05 * i as f32).collect();
        norms[7] = 40.0;
        assert_eq!(norm_sinks(&norms), vec![7]);
        norms[7] = 1.2;
        assert!(norm_sinks(&norms).is_empty());
    }

    #[test]
    fn a_map_entirely_on_sinks_becomes_zero() {
        let masked = mask_sinks(&[0.0, 1.0, 0.0], &[1]);
        assert_eq!(masked, vec![0.0, 0.0, 0.0]);
    }
}
