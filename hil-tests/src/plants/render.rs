//! The camera of the pendulum plant: gymnasium's `Pendulum-v1` frame
//! (`render_mode="rgb_array"`), drawn in Rust, so in-process runs and benches see
//! what the pixel model was trained on without a Python renderer.
//!
//! gymnasium draws with pygame onto a white square surface (y down) and flips it
//! vertically at the end: the rod, a 0.2-wide bar of length 1 in a ±2.2 view, in
//! (204, 77, 77), rotated by θ + π/2; a disc at each end; after the first step, its
//! torque arrow (an image asset, scaled with |u| and mirrored for u > 0) centred on
//! the pivot; a black axle. This renderer draws the same shapes with anti-aliased
//! coverage (tiny-skia), keeping pygame's integer truncations of every coordinate,
//! and the arrow as the asset's arc and head. It is checked against gymnasium's own
//! frames in `tests/camera_matches_gymnasium.rs`: the shapes land on the same
//! pixels and only their anti-aliased edges differ.
//!
//! Frames need not be gymnasium's 500x500: the scene is centred and scaled to the
//! shorter side, as a camera of another resolution at the same distance would crop.

use augur_bridge_ros2::msg::{Header, Image, Time};
use tiny_skia::{Color, FillRule, LineCap, Paint, PathBuilder, Pixmap, Stroke, Transform};

/// gymnasium's `screen_dim`.
pub const GYMNASIUM_SIZE: u32 = 500;

/// The rod's colour.
const ROD: (u8, u8, u8) = (204, 77, 77);

/// Half the visible extent, in metres (gymnasium's `bound`).
const BOUND: f64 = 2.2;

/// The torque arrow asset's size in pixels (gymnasium's `assets/clockwise.png`).
const ARROW_ASSET: (f32, f32) = (329.0, 312.0);
/// Its arc, in the asset's pixels (y down): centre, radius, stroke width, and the
/// angles it spans (from the top, clockwise through the right and the bottom).
/// (Measured from the asset: a circle fitted to its opaque pixels, the stroke's
/// coverage per degree, the butt end's angle.)
const ARC_CENTRE: (f32, f32) = (173.46, 156.09);
const ARC_RADIUS: f32 = 151.1;
const ARC_WIDTH: f32 = 10.1;
const ARC_FROM_DEG: f32 = -90.0;
const ARC_TO_DEG: f32 = 183.0;
/// Its head at the arc's left end, pointing up: the tip, the right barb, the notch
/// where the arc meets it, the left barb.
const HEAD: [(f32, f32); 5] = [
    (21.5, 110.0),
    (45.5, 169.5),
    (26.5, 157.5),
    (16.5, 157.5),
    (0.0, 169.5),
];

/// Draws frames of one size.
pub struct PendulumCamera {
    width: u32,
    height: u32,
    pixmap: Pixmap,
    rgb: Vec<u8>,
}

impl PendulumCamera {
    /// A camera of `width x height` (at least 8x8).
    pub fn new(width: u32, height: u32) -> PendulumCamera {
        let (width, height) = (width.max(8), height.max(8));
        PendulumCamera {
            width,
            height,
            pixmap: Pixmap::new(width, height).expect("a non-empty frame"),
            rgb: vec![0; (width * height * 3) as usize],
        }
    }

    /// gymnasium's 500x500.
    pub fn gymnasium() -> PendulumCamera {
        PendulumCamera::new(GYMNASIUM_SIZE, GYMNASIUM_SIZE)
    }

    /// Frame size (width, height).
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Draws the pendulum at angle `theta` (rad, 0 upright) with the arrow of the
    /// last torque applied (`None` before the first step, as after gymnasium's
    /// reset) and returns the frame, rgb8, rows top to bottom.
    pub fn render(&mut self, theta: f64, last_u: Option<f32>) -> &[u8] {
        let (w, h) = (self.width, self.height);
        let dim = w.min(h);
        let scale = f64::from(dim) / (BOUND * 2.0);
        // pygame's surface coordinates (y down, before the final flip).
        let (ox, oy) = (i64::from(w / 2), i64::from(h / 2));
        let pixmap = &mut self.pixmap;
        pixmap.fill(Color::WHITE);
        let mut paint = Paint::default();
        paint.set_color_rgba8(ROD.0, ROD.1, ROD.2, 255);
        // A pixel (x, y) of pygame's surface is the unit square at (x, H - 1 - y)
        // here (the flip), its centre half a pixel in.
        let hf = h as f32;
        let centre = |x: i64, y: i64| (x as f32 + 0.5, hf - y as f32 - 0.5);

        // The rod: the rectangle's corners rotated by θ + π/2, truncated to pixels.
        let (sin, cos) = (theta + std::f64::consts::FRAC_PI_2).sin_cos();
        let rotate = |x: f64, y: f64| (x * cos - y * sin, x * sin + y * cos);
        let (rod_length, rod_width) = (scale, 0.2 * scale);
        let corners = [
            (0.0, -rod_width / 2.0),
            (0.0, rod_width / 2.0),
            (rod_length, rod_width / 2.0),
            (rod_length, -rod_width / 2.0),
        ];
        let mut pb = PathBuilder::new();
        for (k, &(x, y)) in corners.iter().enumerate() {
            let (rx, ry) = rotate(x, y);
            let (px, py) = centre((rx + ox as f64) as i64, (ry + oy as f64) as i64);
            if k == 0 {
                pb.move_to(px, py);
            } else {
                pb.line_to(px, py);
            }
        }
        pb.close();
        if let Some(rod) = pb.finish() {
            pixmap.fill_path(&rod, &paint, FillRule::Winding, Transform::identity(), None);
            // gfxdraw's anti-aliased outline around the filled polygon.
            let outline = Stroke {
                width: 1.0,
                ..Stroke::default()
            };
            pixmap.stroke_path(&rod, &paint, &outline, Transform::identity(), None);
        }
        // The discs at the pivot and at the rod's end (truncated), radius int(w / 2).
        let radius = (rod_width / 2.0) as i64;
        let (ex, ey) = rotate(rod_length, 0.0);
        let end = ((ex + ox as f64) as i64, (ey + oy as f64) as i64);
        for (x, y) in [(ox, oy), end] {
            disc(pixmap, centre(x, y), radius as f32 + 0.5, &paint);
        }

        // The torque arrow: the asset scaled to an s x s square (s truncated),
        // mirrored left-right for u > 0 and always upside down, centred on the pivot.
        if let Some(u) = last_u {
            // In float32, as NumPy 2 keeps `scale * np.abs(last_u) / 2`.
            let s = (scale as f32 * u.abs() / 2.0) as i64;
            if s > 0 {
                let sf = s as f32;
                let (kx, ky) = (sf / ARROW_ASSET.0, sf / ARROW_ASSET.1);
                let left = (ox - s / 2) as f32;
                let top = (oy - s / 2) as f32;
                // Asset (ax, ay) -> scaled (ax kx, ay ky) -> mirrored -> surface
                // (+ left, top) -> flipped (H - y).
                let (sx, tx) = if u > 0.0 {
                    (-kx, sf + left)
                } else {
                    (kx, left)
                };
                let transform = Transform::from_row(sx, 0.0, 0.0, ky, tx, hf - sf - top);
                arrow(pixmap, transform);
            }
        }

        // The axle.
        let mut black = Paint::default();
        black.set_color_rgba8(0, 0, 0, 255);
        disc(
            pixmap,
            centre(ox, oy),
            (0.05 * scale) as i64 as f32 + 0.5,
            &black,
        );

        // Opaque throughout (white background), so premultiplied is plain rgb.
        for (out, px) in self
            .rgb
            .chunks_exact_mut(3)
            .zip(pixmap.data().chunks_exact(4))
        {
            out.copy_from_slice(&px[..3]);
        }
        &self.rgb
    }

    /// [`PendulumCamera::render`] as a `sensor_msgs/Image` (rgb8) stamped `stamp`.
    pub fn image(&mut self, theta: f64, last_u: Option<f32>, stamp: Time) -> Image {
        let (width, height) = (self.width, self.height);
        let data = self.render(theta, last_u).to_vec();
        Image {
            header: Header {
                stamp,
                frame_id: "camera".into(),
            },
            height,
            width,
            encoding: "rgb8".into(),
            is_bigendian: 0,
            step: width * 3,
            data,
        }
    }
}

/// A filled disc.
fn disc(pixmap: &mut Pixmap, (x, y): (f32, f32), radius: f32, paint: &Paint<'_>) {
    if let Some(path) = PathBuilder::from_circle(x, y, radius) {
        pixmap.fill_path(&path, paint, FillRule::Winding, Transform::identity(), None);
    }
}

/// The torque arrow in the asset's pixel coordinates, drawn through `transform`.
fn arrow(pixmap: &mut Pixmap, transform: Transform) {
    let mut black = Paint::default();
    black.set_color_rgba8(0, 0, 0, 255);
    let mut pb = PathBuilder::new();
    let steps = 64;
    for k in 0..=steps {
        let deg = ARC_FROM_DEG + (ARC_TO_DEG - ARC_FROM_DEG) * k as f32 / steps as f32;
        let (s, c) = deg.to_radians().sin_cos();
        let (x, y) = (ARC_CENTRE.0 + ARC_RADIUS * c, ARC_CENTRE.1 + ARC_RADIUS * s);
        if k == 0 {
            pb.move_to(x, y);
        } else {
            pb.line_to(x, y);
        }
    }
    if let Some(arc) = pb.finish() {
        let stroke = Stroke {
            width: ARC_WIDTH,
            line_cap: LineCap::Butt,
            ..Stroke::default()
        };
        pixmap.stroke_path(&arc, &black, &stroke, transform, None);
    }
    let mut pb = PathBuilder::new();
    pb.move_to(HEAD[0].0, HEAD[0].1);
    for &(x, y) in &HEAD[1..] {
        pb.line_to(x, y);
    }
    pb.close();
    if let Some(head) = pb.finish() {
        pixmap.fill_path(&head, &black, FillRule::Winding, transform, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixel(frame: &[u8], width: u32, x: u32, y: u32) -> [u8; 3] {
        let at = ((y * width + x) * 3) as usize;
        [frame[at], frame[at + 1], frame[at + 2]]
    }

    #[test]
    fn upright_rod_points_up_from_the_axle() {
        let mut camera = PendulumCamera::gymnasium();
        let frame = camera.render(0.0, None).to_vec();
        // The axle at the centre is black, the rod straight above it is red, the
        // same distance below is background.
        assert_eq!(pixel(&frame, 500, 250, 250), [0, 0, 0]);
        assert_eq!(pixel(&frame, 500, 250, 160), [204, 77, 77]);
        assert_eq!(pixel(&frame, 500, 250, 340), [255, 255, 255]);
        // A quarter turn (θ = π/2 is counter-clockwise in gymnasium's picture):
        // the rod lies to the left.
        let frame = camera.render(std::f64::consts::FRAC_PI_2, None).to_vec();
        assert_eq!(pixel(&frame, 500, 160, 250), [204, 77, 77]);
        assert_eq!(pixel(&frame, 500, 340, 250), [255, 255, 255]);
    }

    #[test]
    fn torque_arrow_grows_with_the_torque_and_mirrors_with_its_sign() {
        let mut camera = PendulumCamera::gymnasium();
        // Hanging down, so the arrow around the pivot is clear of the rod above...
        let dark = |frame: &[u8]| frame.chunks_exact(3).filter(|p| p[0] < 128).count();
        let none = dark(camera.render(std::f64::consts::PI, None));
        let small = dark(camera.render(std::f64::consts::PI, Some(0.5)));
        let large = dark(camera.render(std::f64::consts::PI, Some(2.0)));
        assert!(none < small && small < large, "{none} {small} {large}");
        let left = camera.render(std::f64::consts::PI, Some(-2.0)).to_vec();
        let right = camera.render(std::f64::consts::PI, Some(2.0)).to_vec();
        // ... and opposite torques draw mirror images about the vertical axis
        // (up to the one-pixel asymmetry of the 500-wide frame's centre).
        let mirrored_dark = (0..500)
            .flat_map(|y| (1..500).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                pixel(&left, 500, x, y)[0] < 128 && pixel(&right, 500, 500 - x, y)[0] < 128
            })
            .count();
        assert!(mirrored_dark as f64 > 0.9 * dark(&left) as f64);
        assert_ne!(left, right);
    }

    #[test]
    fn other_resolutions_keep_the_scene_centred_and_scaled() {
        let mut camera = PendulumCamera::new(640, 480);
        let frame = camera.render(0.0, None).to_vec();
        assert_eq!(frame.len(), 640 * 480 * 3);
        assert_eq!(pixel(&frame, 640, 320, 240), [0, 0, 0]);
        // Rod length: 480 / 4.4 ≈ 109 px above the pivot, not beyond ~135.
        assert_eq!(pixel(&frame, 640, 320, 240 - 90), [204, 77, 77]);
        assert_eq!(pixel(&frame, 640, 320, 240 - 140), [255, 255, 255]);
    }
}
