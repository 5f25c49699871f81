//! The digest chart: cases opened per day, stacked by category (left axis), and the median
//! first response per day (line, right axis), as a PNG. Drawn with plotters into a pixel
//! buffer with DejaVu Sans embedded in the binary, so it renders the same on a machine without
//! any system font; the buffer is encoded with the `png` crate.

use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use super::digest::Digest;

/// The chart's size in pixels.
pub const WIDTH: u32 = 960;
pub const HEIGHT: u32 = 540;

/// The embedded font (DejaVu Sans; its licence is `assets/fonts/DejaVuSans-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The family name the chart asks plotters for.
const FAMILY: &str = "carebot-sans";

/// The categories drawn on their own; the rest are stacked as "other".
const CATEGORIES_SHOWN: usize = 6;

const PALETTE: [RGBColor; 7] = [
    RGBColor(0x2E, 0x90, 0xFA),
    RGBColor(0xF7, 0x90, 0x09),
    RGBColor(0x12, 0xB7, 0x6A),
    RGBColor(0xD9, 0x2D, 0x20),
    RGBColor(0x7A, 0x5A, 0xF8),
    RGBColor(0x06, 0xAE, 0xD4),
    RGBColor(0x98, 0xA2, 0xB3),
];

/// Why the chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("the chart font could not be loaded")]
    Font,
    #[error("drawing the chart failed: {0}")]
    Draw(String),
    #[error("encoding the chart as PNG failed: {0}")]
    Encode(#[from] png::EncodingError),
}

fn font() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ChartError::Font)
    }
}

fn draw_err(e: impl std::fmt::Display) -> ChartError {
    ChartError::Draw(e.to_string())
}

/// The digest's chart as PNG bytes, [`WIDTH`] × [`HEIGHT`].
pub fn png(d: &Digest) -> Result<Vec<u8>, ChartError> {
    font()?;
    let mut pixels = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, d)?;
        root.present().map_err(draw_err)?;
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
    }
    Ok(out)
}

/// The categories by volume in the period, the first [`CATEGORIES_SHOWN`] on their own.
fn series(d: &Digest) -> (Vec<String>, Vec<Vec<u64>>) {
    let mut totals: Vec<(String, u64)> = Vec::new();
    for day in &d.days {
        for (category, n) in &day.cases {
            match totals.iter_mut().find(|(c, _)| c == category) {
                Some((_, t)) => *t += n,
                None => totals.push((category.clone(), *n)),
            }
        }
    }
    totals.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut names: Vec<String> = totals
        .iter()
        .take(CATEGORIES_SHOWN)
        .map(|(c, _)| c.clone())
        .collect();
    let other = totals.len() > CATEGORIES_SHOWN;
    if other {
        names.push("other".into());
    }
    let counts = d
        .days
        .iter()
        .map(|day| {
            let mut row = vec![0u64; names.len()];
            for (category, n) in &day.cases {
                let slot = names[..names.len() - usize::from(other)]
                    .iter()
                    .position(|c| c == category)
                    .unwrap_or(names.len() - 1);
                row[slot] += n;
            }
            row
        })
        .collect();
    (names, counts)
}

fn draw(root: &DrawingArea<BitMapBackend<'_>, Shift>, d: &Digest) -> Result<(), ChartError> {
    root.fill(&WHITE).map_err(draw_err)?;
    let (names, counts) = series(d);
    let days = d.days.len().max(1);
    let tallest = counts.iter().map(|r| r.iter().sum::<u64>()).max().unwrap_or(0);
    let y_max = (tallest + tallest / 8 + 1).max(4);
    let slowest = d
        .days
        .iter()
        .filter_map(|day| day.first_response_median_minutes)
        .fold(0.0, f64::max);
    let m_max = (slowest * 1.15).max(10.0);
    let labels: Vec<String> = d
        .days
        .iter()
        .map(|day| day.date.format("%a %m-%d").to_string())
        .collect();
    let caption = format!(
        "Cases per day by category · median first response · {}",
        d.period().tz
    );
    // Day i is centred on x = i, so the axis' round numbers fall on days.
    let x_range = -0.5f64..days as f64 - 0.5;
    let mut chart = ChartBuilder::on(root)
        .caption(caption, (FAMILY, 20))
        .margin(14)
        .x_label_area_size(34)
        .y_label_area_size(48)
        .right_y_label_area_size(60)
        .build_cartesian_2d(x_range.clone(), 0u64..y_max)
        .map_err(draw_err)?
        .set_secondary_coord(x_range, 0f64..m_max);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(days.min(12))
        .x_label_formatter(&|x| {
            let day = x.round();
            if (x - day).abs() < 1e-6 && day >= 0.0 {
                labels.get(day as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_labels(y_max.min(10) as usize)
        .y_desc("cases opened")
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 14))
        .draw()
        .map_err(draw_err)?;
    chart
        .configure_secondary_axes()
        .y_desc("median first response (min)")
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 14))
        .draw()
        .map_err(draw_err)?;
    for (k, name) in names.iter().enumerate() {
        let colour = PALETTE[k.min(PALETTE.len() - 1)];
        let bars = counts
            .iter()
            .enumerate()
            .filter(|(_, row)| row[k] > 0)
            .map(|(i, row)| {
                let base: u64 = row[..k].iter().sum();
                let x = i as f64;
                Rectangle::new([(x - 0.38, base), (x + 0.38, base + row[k])], colour.filled())
            });
        chart
            .draw_series(bars)
            .map_err(draw_err)?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
    }
    let points: Vec<(f64, f64)> = d
        .days
        .iter()
        .enumerate()
        .filter_map(|(i, day)| Some((i as f64, day.first_response_median_minutes?)))
        .collect();
    chart
        .draw_secondary_series(LineSeries::new(points.clone(), BLACK.stroke_width(2)))
        .map_err(draw_err)?
        .label("median first response")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], BLACK.stroke_width(2)));
    chart
        .draw_secondary_series(points.iter().map(|p| Circle::new(*p, 3, BLACK.filled())))
        .map_err(draw_err)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FAMILY, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(draw_err)?;
    Ok(())
}
