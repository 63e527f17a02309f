//! Camera frames, from a decoded image message to the model's image input.
//!
//! * [`RawImage`] is a message's pixels as they arrived (`sensor_msgs/Image` fields,
//!   borrowed); [`RawImage::check`] refuses what cannot be a frame of its encoding.
//! * [`Preprocessor`] crops (optionally, to the model's aspect ratio), area-resamples,
//!   reorders or converts the channels and normalises into a caller's buffer of the
//!   model's frame, planar `[channels, height, width]`. Its tables are sized for the
//!   source geometry once; frames of the same size allocate nothing.
//! * [`frame_slot`] hands the newest preprocessed frame from the ingest thread to the
//!   control thread (latest wins, two preallocated buffers swapped under a lock).
//! * [`FrameStack`] is the control thread's ring of the last `frames` frames, newest
//!   last, cleared on an episode reset or a sensor gap.
//!
//! The arithmetic is plain `f32` in a fixed order, so the same frame gives the same
//! model input on every machine (x86 and ARM), as replay and the determinism rules
//! require; `models/train/train_pendulum_pixels.py` implements the same resampling
//! for training.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use thiserror::Error;

use crate::model::{ChannelOrder, ImageInput};

/// Default of the `max_image_pixels` limit: a 4K frame (3840 x 2160).
pub const DEFAULT_MAX_IMAGE_PIXELS: u64 = 3840 * 2160;

/// ITU-R BT.601 luma weights, for grey from colour.
const LUMA: [f32; 3] = [0.299, 0.587, 0.114];

/// The pixel encodings of `sensor_msgs/Image` Augur reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelEncoding {
    /// `rgb8`.
    Rgb8,
    /// `bgr8`.
    Bgr8,
    /// `rgba8`.
    Rgba8,
    /// `bgra8`.
    Bgra8,
    /// `mono8`.
    Mono8,
}

impl PixelEncoding {
    /// Every supported encoding.
    pub const ALL: [PixelEncoding; 5] = [
        PixelEncoding::Rgb8,
        PixelEncoding::Bgr8,
        PixelEncoding::Rgba8,
        PixelEncoding::Bgra8,
        PixelEncoding::Mono8,
    ];

    /// Parses the message's `encoding` (as `sensor_msgs/image_encodings.hpp` spells it).
    pub fn parse(text: &str) -> Option<PixelEncoding> {
        PixelEncoding::ALL.into_iter().find(|e| e.name() == text)
    }

    /// The ROS spelling.
    pub fn name(self) -> &'static str {
        match self {
            PixelEncoding::Rgb8 => "rgb8",
            PixelEncoding::Bgr8 => "bgr8",
            PixelEncoding::Rgba8 => "rgba8",
            PixelEncoding::Bgra8 => "bgra8",
            PixelEncoding::Mono8 => "mono8",
        }
    }

    /// Bytes per pixel.
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            PixelEncoding::Rgb8 | PixelEncoding::Bgr8 => 3,
            PixelEncoding::Rgba8 | PixelEncoding::Bgra8 => 4,
            PixelEncoding::Mono8 => 1,
        }
    }

    /// Byte offsets of red, green and blue in a pixel (all 0 for mono).
    fn rgb_offsets(self) -> [usize; 3] {
        match self {
            PixelEncoding::Rgb8 | PixelEncoding::Rgba8 => [0, 1, 2],
            PixelEncoding::Bgr8 | PixelEncoding::Bgra8 => [2, 1, 0],
            PixelEncoding::Mono8 => [0, 0, 0],
        }
    }
}

/// The pixels of one image message, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct RawImage<'a> {
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
    /// The message's `encoding`.
    pub encoding: &'a str,
    /// Bytes from the start of one row to the next (at least `width * bpp`).
    pub step: u32,
    /// `step * height` bytes.
    pub data: &'a [u8],
}

/// A frame that cannot be used; it is counted and dropped, and the safe action is
/// commanded while no usable frame arrives.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ImageError {
    /// The encoding is not one Augur reads.
    #[error(
        "encoding `{encoding}` is not supported (expected one of rgb8, bgr8, rgba8, bgra8, mono8)"
    )]
    UnsupportedEncoding {
        /// The message's encoding.
        encoding: String,
    },
    /// Zero rows or columns.
    #[error("the image is {width}x{height}: no pixels")]
    Empty {
        /// Columns.
        width: u32,
        /// Rows.
        height: u32,
    },
    /// More pixels than `max_image_pixels` allows (refused before anything is
    /// allocated or decoded).
    #[error("the image is {width}x{height} = {pixels} pixels, over the limit of {max} (`max_image_pixels`)")]
    TooLarge {
        /// Columns.
        width: u32,
        /// Rows.
        height: u32,
        /// `width * height`.
        pixels: u64,
        /// The limit.
        max: u64,
    },
    /// `step` is shorter than a row of pixels.
    #[error("step {step} is shorter than a row of {width} {encoding} pixels ({row} bytes)")]
    ShortStep {
        /// The message's step.
        step: u32,
        /// Columns.
        width: u32,
        /// Encoding.
        encoding: &'static str,
        /// Bytes a row needs.
        row: u64,
    },
    /// `data` is not `step * height` bytes.
    #[error("data has {len} bytes, but step {step} x height {height} is {expected}")]
    Length {
        /// Bytes in `data`.
        len: usize,
        /// The message's step.
        step: u32,
        /// Rows.
        height: u32,
        /// `step * height`.
        expected: u64,
    },
    /// A compressed image could not be decoded.
    #[error("{format} image could not be decoded: {reason}")]
    Decode {
        /// `jpeg` or `png`.
        format: &'static str,
        /// The decoder's words.
        reason: String,
    },
    /// A compressed image's `format` names no codec Augur decodes.
    #[error("compressed format `{format}` is not supported (expected jpeg or png, as image_transport writes them)")]
    UnsupportedFormat {
        /// The message's format.
        format: String,
    },
}

impl RawImage<'_> {
    /// The encoding, once the geometry, the pixel limit and the length are checked.
    pub fn check(&self, max_pixels: u64) -> Result<PixelEncoding, ImageError> {
        let encoding =
            PixelEncoding::parse(self.encoding).ok_or_else(|| ImageError::UnsupportedEncoding {
                encoding: self.encoding.chars().take(64).collect(),
            })?;
        check_size(self.width, self.height, max_pixels)?;
        let row = self.width as u64 * encoding.bytes_per_pixel() as u64;
        if (self.step as u64) < row {
            return Err(ImageError::ShortStep {
                step: self.step,
                width: self.width,
                encoding: encoding.name(),
                row,
            });
        }
        let expected = self.step as u64 * self.height as u64;
        if self.data.len() as u64 != expected {
            return Err(ImageError::Length {
                len: self.data.len(),
                step: self.step,
                height: self.height,
                expected,
            });
        }
        Ok(encoding)
    }
}

/// Refuses an empty image or one over `max_pixels`.
pub fn check_size(width: u32, height: u32, max_pixels: u64) -> Result<(), ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::Empty { width, height });
    }
    let pixels = width as u64 * height as u64;
    if pixels > max_pixels {
        return Err(ImageError::TooLarge {
            width,
            height,
            pixels,
            max: max_pixels,
        });
    }
    Ok(())
}

/// How a camera frame of another aspect ratio is fitted to the model's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fit {
    /// The whole frame, resampled to the model's size (the aspect ratio may change).
    #[default]
    Stretch,
    /// The largest centred crop of the model's aspect ratio, then resampled.
    CenterCrop,
}

impl Fit {
    /// Parses the parameter spelling (`stretch`, `center_crop`).
    pub fn parse(text: &str) -> Option<Fit> {
        match text {
            "stretch" => Some(Fit::Stretch),
            "center_crop" => Some(Fit::CenterCrop),
            _ => None,
        }
    }
}

/// Area-resampling taps of one axis: output `i` is the weighted sum of the source
/// pixels `first[i] .. first[i] + count[i]`, weights in `weights[offset[i]..]`.
#[derive(Clone, Debug, Default)]
struct Taps {
    first: Vec<usize>,
    count: Vec<usize>,
    offset: Vec<usize>,
    weights: Vec<f32>,
}

impl Taps {
    /// Output pixel `i` of `dst` averages the source interval
    /// `[start + i * len / dst, start + (i + 1) * len / dst)`, each source pixel
    /// weighted by its overlap (computed in f64, stored as f32).
    fn area(start: usize, len: usize, dst: usize) -> Taps {
        let mut taps = Taps::default();
        let s = len as f64 / dst as f64;
        for i in 0..dst {
            let (lo, hi) = (i as f64 * s, (i + 1) as f64 * s);
            let first = lo.floor() as usize;
            let last = (hi.ceil() as usize).min(len);
            taps.first.push(start + first);
            taps.count.push(last - first);
            taps.offset.push(taps.weights.len());
            for j in first..last {
                let overlap = hi.min((j + 1) as f64) - lo.max(j as f64);
                taps.weights.push((overlap / s) as f32);
            }
        }
        taps
    }

    fn of(&self, i: usize) -> (usize, &[f32]) {
        let o = self.offset[i];
        (self.first[i], &self.weights[o..o + self.count[i]])
    }
}

/// The model's view of camera frames: crop, area resample, channels, normalisation.
#[derive(Clone, Debug)]
pub struct Preprocessor {
    channels: ChannelOrder,
    height: usize,
    width: usize,
    scale: f32,
    offset: f32,
    fit: Fit,
    // Tables for the source geometry last seen (width, height).
    geometry: Option<(usize, usize)>,
    x: Taps,
    y: Taps,
    // The vertical pass of one output row: the weighted sum of the source rows it
    // covers, every byte of the crop's width (all channels, interleaved) as f32.
    acc: Vec<f32>,
    // First source column of the crop.
    col_start: usize,
}

impl Preprocessor {
    /// A preprocessor for the model's image input `input`.
    pub fn new(input: &ImageInput, fit: Fit) -> Preprocessor {
        Preprocessor {
            channels: input.channels,
            height: input.height,
            width: input.width,
            scale: input.scale,
            offset: input.offset,
            fit,
            geometry: None,
            x: Taps::default(),
            y: Taps::default(),
            acc: Vec::new(),
            col_start: 0,
        }
    }

    /// Values of one output frame: `channels * height * width`.
    pub fn frame_len(&self) -> usize {
        self.channels.count() * self.height * self.width
    }

    /// Sizes the tables for `width x height` frames (only when the size changes: a
    /// camera switching resolution costs one reallocation, steady frames none).
    fn prepare(&mut self, width: usize, height: usize) {
        if self.geometry == Some((width, height)) {
            return;
        }
        let (x0, w, y0, h) = match self.fit {
            Fit::Stretch => (0, width, 0, height),
            Fit::CenterCrop => {
                // Compare width/height against self.width/self.height exactly.
                if width * self.height > self.width * height {
                    let w = ((height * self.width) as f64 / self.height as f64).round() as usize;
                    let w = w.clamp(1, width);
                    ((width - w) / 2, w, 0, height)
                } else {
                    let h = ((width * self.height) as f64 / self.width as f64).round() as usize;
                    let h = h.clamp(1, height);
                    (0, width, (height - h) / 2, h)
                }
            }
        };
        // Column taps relative to the crop (the accumulator holds the crop only).
        self.x = Taps::area(0, w, self.width);
        self.y = Taps::area(y0, h, self.height);
        self.col_start = x0;
        // Four bytes a pixel at most (rgba8 / bgra8).
        self.acc = vec![0.0; w * 4];
        self.geometry = Some((width, height));
    }

    /// Writes the model's view of `image` into `out` (`frame_len` values, planar
    /// `[channels, height, width]`). Checks the image first; nothing is written on an
    /// error.
    pub fn process(
        &mut self,
        image: &RawImage<'_>,
        max_pixels: u64,
        out: &mut [f32],
    ) -> Result<(), ImageError> {
        let encoding = image.check(max_pixels)?;
        assert_eq!(
            out.len(),
            self.frame_len(),
            "output buffer of the wrong size"
        );
        let (width, height) = (image.width as usize, image.height as usize);
        self.prepare(width, height);
        let bpp = encoding.bytes_per_pixel();
        let [r, g, b] = encoding.rgb_offsets();
        // Byte offsets within a pixel of each output channel, in output order.
        let order = match self.channels {
            ChannelOrder::Rgb => [r, g, b],
            ChannelOrder::Bgr => [b, g, r],
            ChannelOrder::Gray => [r, g, b],
        };
        let grey = self.channels == ChannelOrder::Gray;
        let mono = encoding == PixelEncoding::Mono8;
        let crop_bytes = (self.acc.len() / 4) * bpp;
        let plane = self.height * self.width;
        let x_bytes = self.col_start * bpp;
        for oy in 0..self.height {
            // Vertical pass: the source rows under this output row, weighted by
            // their overlap, over the crop's bytes (contiguous, so it vectorises).
            let acc = &mut self.acc[..crop_bytes];
            acc.fill(0.0);
            let (first, weights) = self.y.of(oy);
            for (k, &w) in weights.iter().enumerate() {
                let start = (first + k) * image.step as usize + x_bytes;
                let src = &image.data[start..start + crop_bytes];
                for (a, &v) in acc.iter_mut().zip(src) {
                    *a += w * v as f32;
                }
            }
            // Horizontal pass, channels, grey and normalisation per output pixel.
            for ox in 0..self.width {
                let (first, weights) = self.x.of(ox);
                let mut px = [0.0f32; 3];
                for (k, &w) in weights.iter().enumerate() {
                    let at = (first + k) * bpp;
                    if mono {
                        px[0] += w * acc[at];
                    } else {
                        for (p, &o) in px.iter_mut().zip(&order) {
                            *p += w * acc[at + o];
                        }
                    }
                }
                let at = oy * self.width + ox;
                if grey {
                    let v = if mono {
                        px[0]
                    } else {
                        LUMA[0] * px[0] + LUMA[1] * px[1] + LUMA[2] * px[2]
                    };
                    out[at] = v * self.scale + self.offset;
                } else {
                    for (ch, &p) in px.iter().enumerate() {
                        // A mono camera feeding a colour model: the same value thrice.
                        let v = if mono { px[0] } else { p };
                        out[ch * plane + at] = v * self.scale + self.offset;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The ring of the last `frames` frames of one image input, newest last.
#[derive(Clone, Debug)]
pub struct FrameStack {
    frames: usize,
    frame_len: usize,
    data: Vec<f32>,
    // Slot of the oldest frame; `len` frames held (0: empty).
    oldest: usize,
    len: usize,
}

impl FrameStack {
    /// An empty stack for `input`.
    pub fn new(input: &ImageInput) -> FrameStack {
        FrameStack {
            frames: input.frames,
            frame_len: input.frame_len(),
            data: vec![0.0; input.input_len()],
            oldest: 0,
            len: 0,
        }
    }

    /// Pushes the newest frame. The first frame after a clear fills every slot (the
    /// stack starts full, as TD-MPC2's and gymnasium's frame stacks start).
    pub fn push(&mut self, frame: &[f32]) {
        let n = self.frame_len;
        if self.len == 0 {
            for slot in self.data.chunks_exact_mut(n) {
                slot.copy_from_slice(frame);
            }
            self.oldest = 0;
            self.len = self.frames;
            return;
        }
        self.data[self.oldest * n..][..n].copy_from_slice(frame);
        self.oldest = (self.oldest + 1) % self.frames;
    }

    /// Whether no frame arrived since the last clear.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes the stack, oldest frame first, into `out` (`frames * frame_len`).
    pub fn write(&self, out: &mut [f32]) {
        let n = self.frame_len;
        for k in 0..self.frames {
            let slot = (self.oldest + k) % self.frames;
            out[k * n..][..n].copy_from_slice(&self.data[slot * n..][..n]);
        }
    }

    /// Forgets every frame (an episode reset, a sensor gap).
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

#[derive(Debug)]
struct Slot {
    frame: Vec<f32>,
    seq: u64,
    received: Option<Instant>,
}

/// The ingest side of a frame hand-off: fill [`FrameSender::frame_mut`], then
/// [`FrameSender::publish`].
#[derive(Debug)]
pub struct FrameSender {
    slot: Arc<Mutex<Slot>>,
    scratch: Vec<f32>,
}

/// The control side: the newest published frame.
#[derive(Debug)]
pub struct FrameReceiver {
    slot: Arc<Mutex<Slot>>,
    seen: u64,
}

/// A latest-wins hand-off of frames of `frame_len` values. Two buffers, swapped under
/// a lock: publishing and taking allocate nothing.
pub fn frame_slot(frame_len: usize) -> (FrameSender, FrameReceiver) {
    let slot = Arc::new(Mutex::new(Slot {
        frame: vec![0.0; frame_len],
        seq: 0,
        received: None,
    }));
    (
        FrameSender {
            slot: slot.clone(),
            scratch: vec![0.0; frame_len],
        },
        FrameReceiver { slot, seen: 0 },
    )
}

impl FrameSender {
    /// The buffer the next frame is written into.
    pub fn frame_mut(&mut self) -> &mut [f32] {
        &mut self.scratch
    }

    /// Makes the frame written into [`FrameSender::frame_mut`] the newest.
    pub fn publish(&mut self, received: Instant) {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::swap(&mut slot.frame, &mut self.scratch);
        slot.seq += 1;
        slot.received = Some(received);
    }
}

impl FrameReceiver {
    /// Pushes the newest frame onto `stack` if one was published since the last call;
    /// returns when it was received.
    pub fn take_into(&mut self, stack: &mut FrameStack) -> Option<Instant> {
        let slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if slot.seq == self.seen {
            return None;
        }
        self.seen = slot.seq;
        stack.push(&slot.frame);
        slot.received
    }
}

/// The control thread's image input: the hand-off from ingest, the frame stack and
/// the assembled encoder input.
#[derive(Debug)]
pub struct ImageFeed {
    receiver: FrameReceiver,
    stack: FrameStack,
    input: Vec<f32>,
}

impl ImageFeed {
    /// The feed of image input `input`, taking frames from `receiver`.
    pub fn new(input: &ImageInput, receiver: FrameReceiver) -> ImageFeed {
        ImageFeed {
            receiver,
            stack: FrameStack::new(input),
            input: vec![0.0; input.input_len()],
        }
    }

    /// Pushes the newest frame onto the stack if one arrived since the last call (one
    /// frame per control cycle: the stack's frames are a period apart, as the model
    /// was trained). Returns whether one did.
    pub fn update(&mut self) -> bool {
        if self.receiver.take_into(&mut self.stack).is_none() {
            return false;
        }
        self.stack.write(&mut self.input);
        true
    }

    /// Forgets the stacked frames (episode reset, sensor gap).
    pub fn clear(&mut self) {
        self.stack.clear();
    }

    /// The encoder's image input, `None` until a frame arrived after the last clear.
    pub fn input(&self) -> Option<&[f32]> {
        (!self.stack.is_empty()).then_some(&self.input[..])
    }
}

/// Cycles whose model view the control thread keeps for the publisher thread: more
/// than the node's output queue holds, so a queued output still finds its view.
pub const VIEW_SLOTS: usize = 32;

#[derive(Debug)]
struct ViewEntry {
    cycle: Option<u64>,
    input: Vec<f32>,
    latents: Vec<f32>,
    latent_len: usize,
}

/// The control thread's side of the model-view hand-off ([`view_slots`]).
#[derive(Debug)]
pub struct ViewSender {
    slots: Arc<[Mutex<ViewEntry>]>,
}

/// The publisher thread's side of the model-view hand-off ([`view_slots`]). Clones
/// read the same entries (the recorder and the view publisher each take a copy).
#[derive(Debug, Clone)]
pub struct ViewReceiver {
    slots: Arc<[Mutex<ViewEntry>]>,
}

/// One cycle's model view, copied out by [`ViewReceiver::take`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CycleView {
    /// The encoder's image input (frames stacked, normalised).
    pub input: Vec<f32>,
    /// The chosen plan's latents (rows of `latent_dim`; empty without a plan).
    pub latents: Vec<f32>,
}

/// A hand-off of each cycle's image input and plan latents from the control thread
/// (which must not allocate or block) to the publisher thread (which records them,
/// publishes `~/model_view` and decodes `~/imagined`): [`VIEW_SLOTS`] preallocated
/// entries indexed by cycle number, each behind its own lock. The control thread only
/// ever `try_lock`s; an entry the publisher holds at that moment is skipped (counted).
pub fn view_slots(input_len: usize, latent_len: usize) -> (ViewSender, ViewReceiver) {
    let slots: Arc<[Mutex<ViewEntry>]> = (0..VIEW_SLOTS)
        .map(|_| {
            Mutex::new(ViewEntry {
                cycle: None,
                input: vec![0.0; input_len],
                latents: vec![0.0; latent_len],
                latent_len: 0,
            })
        })
        .collect();
    (
        ViewSender {
            slots: slots.clone(),
        },
        ViewReceiver { slots },
    )
}

impl ViewSender {
    /// Stores `cycle`'s image input and plan latents (copies, no allocation, no
    /// blocking). Returns `false` when the entry was busy or the sizes do not fit, and
    /// the view of that cycle is lost.
    pub fn offer(&self, cycle: u64, input: &[f32], latents: &[f32]) -> bool {
        let slot = &self.slots[(cycle % VIEW_SLOTS as u64) as usize];
        let Ok(mut entry) = slot.try_lock() else {
            return false;
        };
        if entry.input.len() != input.len() || entry.latents.len() < latents.len() {
            entry.cycle = None;
            return false;
        }
        entry.input.copy_from_slice(input);
        entry.latents[..latents.len()].copy_from_slice(latents);
        entry.latent_len = latents.len();
        entry.cycle = Some(cycle);
        true
    }
}

impl ViewReceiver {
    /// Copies `cycle`'s view into `view` if it is still held (not overwritten by a
    /// cycle [`VIEW_SLOTS`] later, not lost). Reuses `view`'s buffers.
    pub fn take(&self, cycle: u64, view: &mut CycleView) -> bool {
        let slot = &self.slots[(cycle % VIEW_SLOTS as u64) as usize];
        let entry = slot.lock().unwrap_or_else(|e| e.into_inner());
        if entry.cycle != Some(cycle) {
            return false;
        }
        view.input.clear();
        view.input.extend_from_slice(&entry.input);
        view.latents.clear();
        view.latents
            .extend_from_slice(&entry.latents[..entry.latent_len]);
        true
    }
}

/// Converts a normalised model frame (`x * scale + offset` of 8-bit pixels, planar
/// `[channels, height, width]`) back to 8-bit pixels, interleaved as
/// `sensor_msgs/Image` carries them (`mono8` for one channel, else `rgb8`/`bgr8` in the
/// model's order). Values are rounded and clamped, so a decoder's imagined frame
/// outside the pixel range still shows.
pub fn frame_to_pixels(input: &ImageInput, frame: &[f32], out: &mut Vec<u8>) {
    let c = input.channels.count();
    let plane = input.height * input.width;
    out.clear();
    out.resize(plane * c, 0);
    let scale = if input.scale == 0.0 { 1.0 } else { input.scale };
    for (ch, src) in frame.chunks_exact(plane).take(c).enumerate() {
        for (i, &x) in src.iter().enumerate() {
            let v = ((x - input.offset) / scale).round().clamp(0.0, 255.0);
            out[i * c + ch] = v as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(channels: ChannelOrder, height: usize, width: usize, frames: usize) -> ImageInput {
        ImageInput {
            name: "pixels".into(),
            height,
            width,
            channels,
            frames,
            scale: 1.0,
            offset: 0.0,
        }
    }

    fn raw<'a>(
        width: u32,
        height: u32,
        encoding: &'a str,
        step: u32,
        data: &'a [u8],
    ) -> RawImage<'a> {
        RawImage {
            height,
            width,
            encoding,
            step,
            data,
        }
    }

    #[test]
    fn area_resampling_averages_blocks_and_weighs_partial_pixels_by_overlap() {
        // 4x2 mono -> 2x1: each output averages a 2x2 block.
        let data = [0, 10, 20, 30, 40, 50, 60, 70];
        let mut p = Preprocessor::new(&input(ChannelOrder::Gray, 1, 2, 1), Fit::Stretch);
        let mut out = [0.0; 2];
        p.process(&raw(4, 2, "mono8", 4, &data), u64::MAX, &mut out)
            .unwrap();
        assert_eq!(out, [25.0, 45.0]);
        // 3 -> 2: output 0 covers pixel 0 and half of pixel 1.
        let taps = Taps::area(0, 3, 2);
        assert_eq!(taps.of(0), (0, &[2.0 / 3.0, 1.0 / 3.0][..]));
        assert_eq!(taps.of(1), (1, &[1.0 / 3.0, 2.0 / 3.0][..]));
    }

    #[test]
    fn channels_are_reordered_or_made_grey_and_row_padding_is_skipped() {
        // One pixel, rgb (10, 20, 30), with 2 bytes of row padding.
        let data = [10, 20, 30, 99, 99];
        let mut out = [0.0; 3];
        let mut rgb = Preprocessor::new(&input(ChannelOrder::Rgb, 1, 1, 1), Fit::Stretch);
        rgb.process(&raw(1, 1, "rgb8", 5, &data), u64::MAX, &mut out)
            .unwrap();
        assert_eq!(out, [10.0, 20.0, 30.0]);
        let mut bgr = Preprocessor::new(&input(ChannelOrder::Bgr, 1, 1, 1), Fit::Stretch);
        bgr.process(&raw(1, 1, "rgb8", 5, &data), u64::MAX, &mut out)
            .unwrap();
        assert_eq!(out, [30.0, 20.0, 10.0]);
        // The same pixel sent as bgra8.
        let bgra = [30, 20, 10, 255];
        rgb.process(&raw(1, 1, "bgra8", 4, &bgra), u64::MAX, &mut out)
            .unwrap();
        assert_eq!(out, [10.0, 20.0, 30.0]);
        let mut grey = [0.0; 1];
        let mut g = Preprocessor::new(&input(ChannelOrder::Gray, 1, 1, 1), Fit::Stretch);
        g.process(&raw(1, 1, "rgb8", 5, &data), u64::MAX, &mut grey)
            .unwrap();
        assert_eq!(grey[0], 0.299 * 10.0 + 0.587 * 20.0 + 0.114 * 30.0);
        // Mono into an rgb model: the value in every channel.
        rgb.process(&raw(1, 1, "mono8", 1, &[7]), u64::MAX, &mut out)
            .unwrap();
        assert_eq!(out, [7.0; 3]);
    }

    #[test]
    fn centre_crop_keeps_the_middle_of_a_wider_frame() {
        // 4x1 mono -> 1x1 with centre crop: the middle 1 pixel of 4 is column 1 (of 0..4,
        // floor((4 - 1) / 2)).
        let data = [0, 100, 200, 0];
        let mut p = Preprocessor::new(&input(ChannelOrder::Gray, 1, 1, 1), Fit::CenterCrop);
        let mut out = [0.0; 1];
        p.process(&raw(4, 1, "mono8", 4, &data), u64::MAX, &mut out)
            .unwrap();
        assert_eq!(out, [100.0]);
        let mut s = Preprocessor::new(&input(ChannelOrder::Gray, 1, 1, 1), Fit::Stretch);
        s.process(&raw(4, 1, "mono8", 4, &data), u64::MAX, &mut out)
            .unwrap();
        assert_eq!(out, [75.0]);
    }

    #[test]
    fn bad_frames_are_refused_with_what_is_wrong() {
        let mut p = Preprocessor::new(&input(ChannelOrder::Gray, 2, 2, 1), Fit::Stretch);
        let mut out = [0.0; 4];
        let err = |r: RawImage<'_>, max: u64, p: &mut Preprocessor, out: &mut [f32]| {
            p.process(&r, max, out).unwrap_err().to_string()
        };
        let e = err(raw(2, 2, "yuv422", 4, &[0; 8]), u64::MAX, &mut p, &mut out);
        assert!(e.contains("`yuv422` is not supported"), "{e}");
        let e = err(raw(0, 2, "mono8", 0, &[]), u64::MAX, &mut p, &mut out);
        assert!(e.contains("0x2: no pixels"), "{e}");
        let e = err(raw(2, 2, "rgb8", 5, &[0; 10]), u64::MAX, &mut p, &mut out);
        assert!(
            e.contains("step 5 is shorter than a row of 2 rgb8 pixels (6 bytes)"),
            "{e}"
        );
        let e = err(raw(2, 2, "mono8", 2, &[0; 3]), u64::MAX, &mut p, &mut out);
        assert!(
            e.contains("data has 3 bytes, but step 2 x height 2 is 4"),
            "{e}"
        );
        // The pixel limit is checked from the header alone, before the data.
        let e = err(
            raw(100_000, 100_000, "rgb8", 300_000, &[]),
            1 << 20,
            &mut p,
            &mut out,
        );
        assert!(e.contains("over the limit of 1048576"), "{e}");
        assert_eq!(out, [0.0; 4], "nothing written on an error");
    }

    #[test]
    fn the_stack_starts_full_keeps_the_newest_last_and_clears() {
        let spec = input(ChannelOrder::Gray, 1, 1, 3);
        let mut stack = FrameStack::new(&spec);
        let mut out = [0.0; 3];
        assert!(stack.is_empty());
        stack.push(&[1.0]);
        stack.write(&mut out);
        assert_eq!(out, [1.0, 1.0, 1.0]);
        stack.push(&[2.0]);
        stack.push(&[3.0]);
        stack.write(&mut out);
        assert_eq!(out, [1.0, 2.0, 3.0]);
        stack.push(&[4.0]);
        stack.write(&mut out);
        assert_eq!(out, [2.0, 3.0, 4.0]);
        stack.clear();
        assert!(stack.is_empty());
        stack.push(&[9.0]);
        stack.write(&mut out);
        assert_eq!(out, [9.0, 9.0, 9.0]);
    }

    #[test]
    fn the_slot_hands_over_only_the_newest_frame_once() {
        let spec = input(ChannelOrder::Gray, 1, 1, 2);
        let mut stack = FrameStack::new(&spec);
        let (mut tx, mut rx) = frame_slot(1);
        assert_eq!(rx.take_into(&mut stack), None);
        let t = Instant::now();
        tx.frame_mut()[0] = 1.0;
        tx.publish(t);
        tx.frame_mut()[0] = 2.0;
        tx.publish(t);
        assert_eq!(rx.take_into(&mut stack), Some(t));
        assert_eq!(rx.take_into(&mut stack), None, "taken once");
        let mut out = [0.0; 2];
        stack.write(&mut out);
        assert_eq!(
            out,
            [2.0, 2.0],
            "only the newest, repeated into the empty stack"
        );
    }
}
