//! PNG plots for bench reports and `augur sim`: stacked time-series panels (with
//! shaded windows, e.g. where a fault was injected) and histograms.
//!
//! Text is drawn with a bundled font (DejaVu Sans, `assets/`), so plotting needs no
//! system font library and works the same on the robot and in CI.

use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, Context as _};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

/// The font family every plot uses.
const FONT: &str = "sans-serif";

/// Line colours, in series order.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// One line of a panel.
#[derive(Clone, Debug, Default)]
pub struct Series {
    pub label: String,
    /// `(x, y)` points in x order; non-finite points break the line.
    pub points: Vec<(f64, f64)>,
}

/// One panel of a stacked time-series figure.
#[derive(Clone, Debug, Default)]
pub struct Panel {
    /// Y-axis label, with its unit.
    pub y_label: String,
    pub series: Vec<Series>,
    /// X ranges to shade (e.g. fault windows).
    pub shaded: Vec<(f64, f64)>,
}

fn register() {
    static FONT_ONCE: Once = Once::new();
    FONT_ONCE.call_once(|| {
        // The bundled file is a valid TrueType font; a failure here would only
        // leave plots without text.
        let _ = register_font(
            FONT,
            FontStyle::Normal,
            include_bytes!("../assets/DejaVuSans.ttf"),
        );
    });
}

fn drawing_error<E: std::fmt::Debug>(path: &Path) -> impl FnOnce(E) -> anyhow::Error + '_ {
    move |error| anyhow!("drawing {}: {error:?}", path.display())
}

/// `(min, max)` of `values`, widened a little (and made non-empty) for an axis.
fn axis_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    // A constant series gets a unit-wide axis, not one of 2e-9 labelled "0.0" ten times.
    let pad = if hi - lo < 1e-6 {
        0.5
    } else {
        (hi - lo) * 0.05
    };
    (lo - pad, hi + pad)
}

/// Draws `panels` stacked over a shared x axis into a PNG of `width` x (`height` per
/// panel) pixels.
pub fn time_series_png(
    path: &Path,
    title: &str,
    x_label: &str,
    panels: &[Panel],
    width: u32,
    panel_height: u32,
) -> anyhow::Result<()> {
    register();
    anyhow::ensure!(!panels.is_empty(), "no panel to draw in {}", path.display());
    let height = panel_height * panels.len() as u32 + 40;
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(drawing_error(path))?;
    let root = root
        .titled(title, (FONT, 22))
        .map_err(drawing_error(path))?;
    let (x_lo, x_hi) = axis_range(
        panels
            .iter()
            .flat_map(|p| p.series.iter())
            .flat_map(|s| s.points.iter().map(|p| p.0)),
    );
    for (area, panel) in root.split_evenly((panels.len(), 1)).iter().zip(panels) {
        let (y_lo, y_hi) = axis_range(
            panel
                .series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1)),
        );
        let mut chart = ChartBuilder::on(area)
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(64)
            .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
            .map_err(drawing_error(path))?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(panel.y_label.as_str())
            .label_style((FONT, 14))
            .draw()
            .map_err(drawing_error(path))?;
        for &(from, to) in &panel.shaded {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(from, y_lo), (to, y_hi)],
                    RGBColor(255, 200, 200).mix(0.5).filled(),
                )))
                .map_err(drawing_error(path))?;
        }
        for (index, series) in panel.series.iter().enumerate() {
            let color = PALETTE[index % PALETTE.len()];
            // Split at non-finite points so a gap shows as a gap.
            let mut first = true;
            for segment in series
                .points
                .split(|(x, y)| !x.is_finite() || !y.is_finite())
                .filter(|segment| !segment.is_empty())
            {
                let drawn = chart
                    .draw_series(LineSeries::new(
                        segment.iter().copied(),
                        color.stroke_width(2),
                    ))
                    .map_err(drawing_error(path))?;
                if first {
                    drawn.label(series.label.as_str()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                    });
                    first = false;
                }
            }
        }
        if panel.series.iter().any(|s| !s.label.is_empty()) {
            chart
                .configure_series_labels()
                .label_font((FONT, 13))
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(drawing_error(path))?;
        }
    }
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// One labelled point of a scatter plot with its intervals on both axes.
#[derive(Clone, Debug)]
pub struct ScatterPoint {
    pub label: String,
    /// `(low, value, high)` on the x axis.
    pub x: (f64, f64, f64),
    /// `(low, value, high)` on the y axis.
    pub y: (f64, f64, f64),
}

/// Draws `points` with their interval bars and the diagonal `y = x` (where both
/// axes measure the same quantity) into a `size` PNG.
pub fn scatter_png(
    path: &Path,
    title: &str,
    labels: (&str, &str),
    points: &[ScatterPoint],
    size: (u32, u32),
) -> anyhow::Result<()> {
    register();
    let all = points
        .iter()
        .flat_map(|p| [p.x.0, p.x.2, p.y.0, p.y.2, p.x.1, p.y.1]);
    // One range for both axes, so the diagonal is at 45 degrees.
    let (lo, hi) = axis_range(all);
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(drawing_error(path))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(lo..hi, lo..hi)
        .map_err(drawing_error(path))?;
    chart
        .configure_mesh()
        .x_desc(labels.0)
        .y_desc(labels.1)
        .label_style((FONT, 14))
        .draw()
        .map_err(drawing_error(path))?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(lo, lo), (hi, hi)],
            RGBColor(160, 160, 160).stroke_width(1),
        )))
        .map_err(drawing_error(path))?
        .label("learned = reference")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RGBColor(160, 160, 160)));
    for (index, p) in points.iter().enumerate() {
        let color = PALETTE[index % PALETTE.len()];
        chart
            .draw_series([
                PathElement::new(vec![(p.x.0, p.y.1), (p.x.2, p.y.1)], color.stroke_width(2)),
                PathElement::new(vec![(p.x.1, p.y.0), (p.x.1, p.y.2)], color.stroke_width(2)),
            ])
            .map_err(drawing_error(path))?;
        // Past the palette's length, triangles keep points of one colour apart.
        if index < PALETTE.len() {
            chart
                .draw_series(std::iter::once(Circle::new(
                    (p.x.1, p.y.1),
                    5,
                    color.filled(),
                )))
                .map_err(drawing_error(path))?
                .label(p.label.as_str())
                .legend(move |(x, y)| Circle::new((x + 8, y), 5, color.filled()));
        } else {
            chart
                .draw_series(std::iter::once(TriangleMarker::new(
                    (p.x.1, p.y.1),
                    7,
                    color.filled(),
                )))
                .map_err(drawing_error(path))?
                .label(p.label.as_str())
                .legend(move |(x, y)| TriangleMarker::new((x + 8, y), 7, color.filled()));
        }
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(drawing_error(path))?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Draws a histogram of `values` with `bins` equal bins into a PNG.
pub fn histogram_png(
    path: &Path,
    title: &str,
    x_label: &str,
    values: &[f64],
    bins: usize,
) -> anyhow::Result<()> {
    register();
    let bins = bins.max(1);
    let (lo, hi) = axis_range(values.iter().copied());
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0u32; bins];
    for &v in values.iter().filter(|v| v.is_finite()) {
        let bin = (((v - lo) / width) as usize).min(bins - 1);
        counts[bin] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(0).max(1);
    let root = BitMapBackend::new(path, (800, 400)).into_drawing_area();
    root.fill(&WHITE).map_err(drawing_error(path))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 20))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(lo..hi, 0u32..top + top / 10 + 1)
        .map_err(drawing_error(path))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc("count")
        .label_style((FONT, 14))
        .draw()
        .map_err(drawing_error(path))?;
    chart
        .draw_series(counts.iter().enumerate().map(|(i, &count)| {
            let x0 = lo + i as f64 * width;
            Rectangle::new([(x0, 0), (x0 + width, count)], PALETTE[0].filled())
        }))
        .map_err(drawing_error(path))?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_png_files_with_the_requested_size() {
        let dir = std::env::temp_dir().join(format!("augur-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let panel = Panel {
            y_label: "angle (rad)".into(),
            series: vec![
                Series {
                    label: "actual".into(),
                    points: (0..100)
                        .map(|i| (i as f64 * 0.05, (i as f64 * 0.1).sin()))
                        .collect(),
                },
                Series {
                    label: "predicted".into(),
                    points: vec![(0.0, 0.0), (1.0, f64::NAN), (2.0, 0.5), (3.0, 0.4)],
                },
            ],
            shaded: vec![(1.0, 2.0)],
        };
        let series_path = dir.join("series.png");
        time_series_png(
            &series_path,
            "test",
            "time (s)",
            &[panel.clone(), panel],
            640,
            200,
        )
        .unwrap();
        let histogram_path = dir.join("histogram.png");
        histogram_png(&histogram_path, "test", "ms", &[1.0, 2.0, 2.5, 9.0], 8).unwrap();
        for (path, size) in [(series_path, (640, 440)), (histogram_path, (800, 400))] {
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(&bytes[1..4], b"PNG", "{}", path.display());
            // IHDR: width and height, big endian, at bytes 16..24.
            let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
            let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
            assert_eq!((width, height), size);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
