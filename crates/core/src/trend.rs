//! The performance trend: least-squares slopes over a window of recent steps
//! (specification §8).

use crate::metrics::Trend;

/// Least-squares slopes of novelty and aesthetic score against 0, 1, 2, … in one pass, with the
/// closed forms Σx = n(n−1)/2 and Σx² = (n−1)n(2n−1)/6 (0 with fewer than 2 points).
#[cfg(test)]
pub(crate) fn trend<'a>(points: impl Iterator<Item = &'a (f64, f64)>) -> Trend {
    let mut w = TrendWindow::default();
    for p in points {
        w.push(u32::MAX, *p);
    }
    w.trend()
}

/// The last `trend_window` (novelty, aesthetic score) pairs with their running sums Σy and
/// Σi·y, so that the trend costs O(1) however often metrics are read. The sums are rebuilt from
/// the points every `window` pushes, so rounding cannot accumulate.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct TrendWindow {
    points: std::collections::VecDeque<(f64, f64)>,
    sums: [f64; 4],
    since_rebuild: u32,
}

impl TrendWindow {
    pub(crate) fn with_capacity(capacity: u32) -> Self {
        Self {
            points: std::collections::VecDeque::with_capacity(capacity as usize),
            ..Self::default()
        }
    }

    pub(crate) fn shrink(&mut self) {
        self.points.shrink_to_fit();
    }

    /// Adds a point, evicting the oldest once `capacity` are held.
    #[inline]
    pub(crate) fn push(&mut self, capacity: u32, (y1, y2): (f64, f64)) {
        let [sy1, sy2, sxy1, sxy2] = &mut self.sums;
        if self.points.len() >= capacity as usize {
            if let Some((o1, o2)) = self.points.pop_front() {
                // Every index moves down by one: Σi·y loses Σy of the survivors.
                *sy1 -= o1;
                *sy2 -= o2;
                *sxy1 -= *sy1;
                *sxy2 -= *sy2;
            }
        }
        let i = self.points.len() as f64;
        *sy1 += y1;
        *sy2 += y2;
        *sxy1 += i * y1;
        *sxy2 += i * y2;
        self.points.push_back((y1, y2));
        self.since_rebuild += 1;
        if self.since_rebuild >= capacity.min(1 << 20) {
            self.rebuild();
        }
    }

    #[cold]
    fn rebuild(&mut self) {
        let mut sums = [0.0; 4];
        for (i, (y1, y2)) in self.points.iter().enumerate() {
            let x = i as f64;
            sums[0] += y1;
            sums[1] += y2;
            sums[2] += x * y1;
            sums[3] += x * y2;
        }
        self.sums = sums;
        self.since_rebuild = 0;
    }

    pub(crate) fn is_finite(&self) -> bool {
        self.sums.iter().all(|v| v.is_finite())
            && self
                .points
                .iter()
                .all(|(a, b)| a.is_finite() && b.is_finite())
    }

    /// The slopes (0 with fewer than 2 points).
    pub(crate) fn trend(&self) -> Trend {
        let n = self.points.len() as f64;
        if n < 2.0 {
            return Trend::default();
        }
        let [sy1, sy2, sxy1, sxy2] = self.sums;
        let sx = n * (n - 1.0) / 2.0;
        let sxx = (n - 1.0) * n * (2.0 * n - 1.0) / 6.0;
        let den = n * sxx - sx * sx;
        Trend {
            novelty: (n * sxy1 - sx * sy1) / den,
            aesthetic_score: (n * sxy2 - sx * sy2) / den,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line_is_its_gradient() {
        let points = [(1.0, 0.2), (1.5, 0.2), (2.0, 0.2), (2.5, 0.2)];
        let t = trend(points.iter());
        assert!((t.novelty - 0.5).abs() < 1e-12 && t.aesthetic_score.abs() < 1e-12);
        assert_eq!(trend([(3.0, 1.0)].iter()), Trend::default());
        // Noisy points: the same as the two-pass textbook formula.
        let ys: Vec<(f64, f64)> = (0..100)
            .map(|i| (f64::from(i % 7) * 0.1, f64::from(i % 3)))
            .collect();
        let n = ys.len() as f64;
        let mx = (n - 1.0) / 2.0;
        let my = ys.iter().map(|p| p.0).sum::<f64>() / n;
        let (sxy, sxx) = ys.iter().enumerate().fold((0.0, 0.0), |(a, b), (i, p)| {
            let dx = i as f64 - mx;
            (a + dx * (p.0 - my), b + dx * dx)
        });
        assert!((trend(ys.iter()).novelty - sxy / sxx).abs() < 1e-12);
    }

    #[test]
    fn the_sliding_window_matches_a_fresh_fit() {
        let mut w = TrendWindow::with_capacity(50);
        let mut all = Vec::new();
        for i in 0..1_234u32 {
            let p = (f64::from(i % 11) * 0.07, (f64::from(i) * 0.3).sin());
            w.push(50, p);
            all.push(p);
            let fresh = trend(all[all.len().saturating_sub(50)..].iter());
            let t = w.trend();
            assert!(
                (t.novelty - fresh.novelty).abs() < 1e-12
                    && (t.aesthetic_score - fresh.aesthetic_score).abs() < 1e-12,
                "{i}"
            );
        }
    }
}
