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

/// An 8-bit picture for [`pictures_png`]: grey (1 channel) or rgb (3), rows top to
/// bottom.
#[derive(Clone, Debug)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub channels: u32,
    pub data: Vec<u8>,
    /// Drawn under the picture.
    pub caption: String,
}

impl Picture {
    /// The pixel at `(x, y)` as rgb.
    fn rgb(&self, x: u32, y: u32) -> [u8; 3] {
        let c = self.channels as usize;
        let at = (y as usize * self.width as usize + x as usize) * c;
        match c {
            1 => [self.data[at]; 3],
            _ => [self.data[at], self.data[at + 1], self.data[at + 2]],
        }
    }

    /// The picture resampled to `width x height`: averaged over the source pixels
    /// each output pixel covers (shrinking), or repeated (enlarging).
    fn resampled(&self, width: u32, height: u32) -> Vec<[u8; 3]> {
        let mut out = Vec::with_capacity((width * height) as usize);
        let span = |o: u32, n: u32, src: u32| {
            let lo = (u64::from(o) * u64::from(src) / u64::from(n)) as u32;
            let hi = ((u64::from(o + 1) * u64::from(src)).div_ceil(u64::from(n)) as u32)
                .clamp(lo + 1, src);
            lo..hi
        };
        for y in 0..height {
            let ys = span(y, height, self.height);
            for x in 0..width {
                let xs = span(x, width, self.width);
                let mut sum = [0u32; 3];
                let mut n = 0;
                for sy in ys.clone() {
                    for sx in xs.clone() {
                        let p = self.rgb(sx, sy);
                        for (s, v) in sum.iter_mut().zip(p) {
                            *s += u32::from(v);
                        }
                        n += 1;
                    }
                }
                out.push(sum.map(|s| ((s + n / 2) / n.max(1)) as u8));
            }
        }
        out
    }
}

/// One row of [`pictures_png`]: a label on the left and pictures side by side (a
/// `None` leaves its cell empty).
#[derive(Clone, Debug, Default)]
pub struct PictureRow {
    pub label: String,
    pub pictures: Vec<Option<Picture>>,
}

/// Draws `rows` of pictures, each fitted into a `cell` x `cell` square with its
/// caption underneath, into a PNG.
pub fn pictures_png(
    path: &Path,
    title: &str,
    rows: &[PictureRow],
    cell: u32,
) -> anyhow::Result<()> {
    register();
    anyhow::ensure!(!rows.is_empty(), "no picture to draw in {}", path.display());
    let (label_width, gap, caption, title_height) = (110u32, 6u32, 18u32, 40u32);
    let columns = rows.iter().map(|r| r.pictures.len()).max().unwrap_or(0) as u32;
    let width = label_width + columns * (cell + gap) + gap;
    let row_height = cell + caption + gap;
    let height = title_height + rows.len() as u32 * row_height + gap;
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(drawing_error(path))?;
    root.draw(&Text::new(title, (10, 10), (FONT, 20).into_font()))
        .map_err(drawing_error(path))?;
    for (r, row) in rows.iter().enumerate() {
        let top = title_height + r as u32 * row_height;
        root.draw(&Text::new(
            row.label.as_str(),
            (8, (top + cell / 2) as i32 - 8),
            (FONT, 15).into_font(),
        ))
        .map_err(drawing_error(path))?;
        for (c, picture) in row.pictures.iter().enumerate() {
            let Some(picture) = picture else { continue };
            if picture.width == 0 || picture.height == 0 {
                continue;
            }
            let left = label_width + c as u32 * (cell + gap);
            // Fit, keeping the aspect ratio.
            let fit = f64::from(cell) / f64::from(picture.width.max(picture.height));
            let (w, h) = (
                ((f64::from(picture.width) * fit).round() as u32).max(1),
                ((f64::from(picture.height) * fit).round() as u32).max(1),
            );
            let (x0, y0) = (left + (cell - w) / 2, top + (cell - h) / 2);
            for (i, p) in picture.resampled(w, h).into_iter().enumerate() {
                let (x, y) = (x0 + i as u32 % w, y0 + i as u32 / w);
                root.draw_pixel((x as i32, y as i32), &RGBColor(p[0], p[1], p[2]))
                    .map_err(drawing_error(path))?;
            }
            root.draw(&Rectangle::new(
                [
                    (x0 as i32 - 1, y0 as i32 - 1),
                    ((x0 + w) as i32, (y0 + h) as i32),
                ],
                RGBColor(180, 180, 180).stroke_width(1),
            ))
            .map_err(drawing_error(path))?;
            root.draw(&Text::new(
                picture.caption.as_str(),
                (left as i32, (top + cell + 2) as i32),
                (FONT, 13).into_font(),
            ))
            .map_err(drawing_error(path))?;
        }
    }
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

    #[test]
    fn pictures_are_averaged_when_shrunk_and_repeated_when_enlarged() {
        // 4x2 grey: left half 0/100 alternating rows, right half 200.
        let picture = Picture {
            width: 4,
            height: 2,
            channels: 1,
            data: vec![0, 0, 200, 200, 100, 100, 200, 200],
            caption: String::new(),
        };
        assert_eq!(picture.resampled(2, 1), vec![[50; 3], [200; 3]]);
        let big = picture.resampled(8, 4);
        assert_eq!(big.len(), 32);
        assert_eq!((big[0], big[7], big[8 * 3]), ([0; 3], [200; 3], [100; 3]));
        let rgb = Picture {
            width: 1,
            height: 1,
            channels: 3,
            data: vec![1, 2, 3],
            caption: String::new(),
        };
        assert_eq!(rgb.resampled(2, 2), vec![[1, 2, 3]; 4]);

        let dir = std::env::temp_dir().join(format!("augur-pictures-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("grid.png");
        let rows = [
            PictureRow {
                label: "a".into(),
                pictures: vec![Some(picture.clone()), None, Some(rgb)],
            },
            PictureRow {
                label: "b".into(),
                pictures: vec![Some(picture)],
            },
        ];
        pictures_png(&path, "grid", &rows, 64).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        // 110 label + 3 x (64 + 6) + 6; 40 title + 2 x (64 + 18 + 6) + 6.
        assert_eq!((width, height), (326, 222));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
