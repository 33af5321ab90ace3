//! The report pages' charts: SVG drawn on the server with plotters' SVG backend (no fonts,
//! no system libraries: text is written as `<text>` for the browser to set, colours as
//! presentation attributes, so the pages' CSP needs no inline style). Each chart scales to
//! its box (a `viewBox`, `width="100%"`), so it reads on a 360 px phone, and carries its
//! title as `<title>` and `aria-label`; the page puts the same figures in a table beside it.
//!
//! The charts take plain series, not report rows: the pages say what to draw, this module
//! only how.

use chrono::NaiveDate;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

/// The drawing's own size; the browser scales it to the page.
const WIDTH: u32 = 480;
const HEIGHT: u32 = 270;
/// Large enough to read once a 480-unit drawing is shrunk onto a phone.
const FONT: (&str, u32) = ("sans-serif", 17);

pub const BRAND: RGBColor = RGBColor(0x0b, 0x6e, 0x4f);
pub const AMBER: RGBColor = RGBColor(0xe0, 0x9a, 0x10);
pub const DANGER: RGBColor = RGBColor(0xb4, 0x23, 0x18);
pub const SLATE: RGBColor = RGBColor(0x3b, 0x5b, 0xa9);
const GRID: RGBColor = RGBColor(0xd5, 0xdd, 0xd9);
const INK: RGBColor = RGBColor(0x15, 0x20, 0x1b);

/// One series of a chart: its name (for the page's legend), colour and a value per day.
pub struct Series<'a, T> {
    pub name: &'a str,
    pub color: RGBColor,
    pub values: Vec<T>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// plotters' document made to scale and to say what it shows.
fn finish(svg: String, key: &str, title: &str) -> String {
    let title = escape(title);
    let head = format!("<svg width=\"{WIDTH}\" height=\"{HEIGHT}\" ");
    let own = format!(
        "<svg class=\"chart\" data-chart=\"{}\" width=\"100%\" preserveAspectRatio=\"xMidYMid meet\" role=\"img\" aria-label=\"{title}\" ",
        escape(key)
    );
    let svg = svg.replacen(&head, &own, 1);
    match svg.find('>') {
        Some(end) => format!("{}<title>{title}</title>{}", &svg[..=end], &svg[end + 1..]),
        None => svg,
    }
}

/// "3 Mar" under the day with this index, nothing between days.
fn day_label(days: &[NaiveDate], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() > 1e-6 || i < 0.0 {
        return String::new();
    }
    days.get(i as usize).map(|d| d.format("%-d %b").to_string()).unwrap_or_default()
}

/// How many day labels fit under a chart.
fn day_labels(n: usize) -> usize {
    n.clamp(1, 6)
}

/// A top for the y axis: a little above the highest value, and at least `floor`.
fn top(max: f64, floor: f64) -> f64 {
    let max = if max.is_finite() { max } else { 0.0 };
    (max * 1.1).max(floor)
}

/// Stacked bars, one per day: the series stack in order from the bottom.
pub fn stacked_bars(key: &str, title: &str, days: &[NaiveDate], series: &[Series<'_, i64>]) -> String {
    let n = days.len().max(1);
    let totals: Vec<i64> =
        (0..days.len()).map(|i| series.iter().map(|s| s.values.get(i).copied().unwrap_or(0)).sum()).collect();
    let ymax = top(totals.iter().copied().max().unwrap_or(0) as f64, 4.0).ceil() as i64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let _ = draw_stacked(&root, n, ymax, days, series);
        let _ = root.present();
    }
    finish(svg, key, title)
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw_stacked(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    n: usize,
    ymax: i64,
    days: &[NaiveDate],
    series: &[Series<'_, i64>],
) -> DrawResult {
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(root)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(44)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0i64..ymax)?;
    let fmt = |x: &f64| day_label(days, *x);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .axis_style(INK)
        .x_labels(day_labels(n))
        .x_label_formatter(&fmt)
        .y_labels(5)
        .label_style(FONT)
        .draw()?;
    let half = if n > 60 { 0.5 } else { 0.38 };
    let mut base = vec![0i64; days.len()];
    for s in series {
        let bars: Vec<Rectangle<(f64, i64)>> = (0..days.len())
            .filter_map(|i| {
                let v = s.values.get(i).copied().unwrap_or(0);
                if v <= 0 {
                    return None;
                }
                let x = i as f64;
                let rect = Rectangle::new([(x - half, base[i]), (x + half, base[i] + v)], s.color.filled());
                base[i] += v;
                Some(rect)
            })
            .collect();
        chart.draw_series(bars)?;
    }
    Ok(())
}

/// Lines over the days, a gap where a day has no value; `unit` follows the y labels
/// ("m" for minutes, "%").
pub fn lines(
    key: &str,
    title: &str,
    days: &[NaiveDate],
    series: &[Series<'_, Option<f64>>],
    floor: f64,
    unit: &str,
) -> String {
    let n = days.len().max(1);
    let max = series.iter().flat_map(|s| s.values.iter().flatten().copied()).fold(0.0, f64::max);
    let ymax = top(max, floor);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let _ = draw_lines(&root, n, ymax, days, series, unit);
        let _ = root.present();
    }
    finish(svg, key, title)
}

fn draw_lines(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    n: usize,
    ymax: f64,
    days: &[NaiveDate],
    series: &[Series<'_, Option<f64>>],
    unit: &str,
) -> DrawResult {
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(root)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..ymax)?;
    let fmt = |x: &f64| day_label(days, *x);
    let yfmt = |y: &f64| format!("{y:.0}{unit}");
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .axis_style(INK)
        .x_labels(day_labels(n))
        .x_label_formatter(&fmt)
        .y_labels(5)
        .y_label_formatter(&yfmt)
        .label_style(FONT)
        .draw()?;
    for s in series {
        // Runs of days that have a value: a line each, and a dot on every value.
        let mut run: Vec<(f64, f64)> = Vec::new();
        let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
        for (i, v) in s.values.iter().enumerate() {
            match v {
                Some(v) if v.is_finite() => run.push((i as f64, *v)),
                _ => {
                    if !run.is_empty() {
                        runs.push(std::mem::take(&mut run));
                    }
                }
            }
        }
        if !run.is_empty() {
            runs.push(run);
        }
        for run in &runs {
            chart.draw_series(LineSeries::new(run.iter().copied(), s.color.stroke_width(3)))?;
        }
        if n <= 92 {
            chart.draw_series(runs.iter().flatten().map(|p| Circle::new(*p, 3, s.color.filled())))?;
        }
    }
    Ok(())
}

pub const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Hour × weekday: a cell per hour (0–23) of each weekday (0 = Monday), darker with more
/// tokens; empty cells are left white.
pub fn heatmap(key: &str, title: &str, grid: &[[i64; 24]; 7]) -> String {
    let max = grid.iter().flatten().copied().max().unwrap_or(0);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let _ = draw_heatmap(&root, grid, max);
        let _ = root.present();
    }
    finish(svg, key, title)
}

/// The cell's colour: the brand green, its strength by the share of the busiest hour.
pub fn heat(tokens: i64, max: i64) -> RGBColor {
    if tokens <= 0 || max <= 0 {
        return WHITE;
    }
    // 15 % to 100 % of the way from white to the brand colour, in integers.
    let share = 15 + (85 * tokens.min(max)) / max;
    let mix = |c: u8| (255 - ((255 - c as i64) * share) / 100) as u8;
    RGBColor(mix(BRAND.0), mix(BRAND.1), mix(BRAND.2))
}

fn draw_heatmap(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    grid: &[[i64; 24]; 7],
    max: i64,
) -> DrawResult {
    root.fill(&WHITE)?;
    // Monday on top: rows are drawn from the top down.
    let mut chart = ChartBuilder::on(root)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(46)
        .build_cartesian_2d((0i32..24).into_segmented(), (0i32..7).into_segmented())?;
    let hour = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(h) if h % 3 == 0 && *h < 24 => format!("{h}"),
        _ => String::new(),
    };
    let day = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(d) if (0..7).contains(d) => WEEKDAYS[6 - *d as usize].to_string(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .axis_style(INK)
        .x_labels(24)
        .x_label_formatter(&hour)
        .y_labels(7)
        .y_label_formatter(&day)
        .label_style(FONT)
        .draw()?;
    let mut cells = Vec::new();
    for (d, row) in grid.iter().enumerate() {
        let y = 6 - d as i32;
        for (h, &tokens) in row.iter().enumerate() {
            let color = heat(tokens, max);
            if color == WHITE {
                continue;
            }
            let h = h as i32;
            cells.push(Rectangle::new(
                [
                    (SegmentValue::Exact(h), SegmentValue::Exact(y)),
                    (SegmentValue::Exact(h + 1), SegmentValue::Exact(y + 1)),
                ],
                color.filled(),
            ));
        }
    }
    chart.draw_series(cells)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(n: u32) -> Vec<NaiveDate> {
        (1..=n).map(|d| NaiveDate::from_ymd_opt(2026, 3, d).unwrap()).collect()
    }

    fn count(svg: &str, what: &str) -> usize {
        svg.matches(what).count()
    }

    #[test]
    fn bars_scale_and_say_what_they_show() {
        let svg = stacked_bars(
            "patients",
            "Patients a day <served>",
            &days(30),
            &[
                Series { name: "Served", color: BRAND, values: (0..30).map(|i| i % 5).collect() },
                Series { name: "Skipped", color: AMBER, values: vec![1; 30] },
            ],
        );
        assert!(svg.starts_with("<svg class=\"chart\" data-chart=\"patients\" width=\"100%\""), "{}", &svg[..200]);
        assert!(svg.contains("viewBox=\"0 0 480 270\""));
        assert!(svg.contains("aria-label=\"Patients a day &lt;served&gt;\""));
        assert!(svg.contains("<title>Patients a day &lt;served&gt;</title>"));
        // 24 served bars (a fifth of the days had none) and 30 skipped ones, over the
        // background.
        assert_eq!(count(&svg, "fill=\"#0B6E4F\""), 24, "{svg}");
        assert_eq!(count(&svg, "fill=\"#E09A10\""), 30);
        // Day labels are text for the browser to set, and no style attribute needs the CSP.
        assert!(svg.contains(">\n1 Mar\n</text>"), "{svg}");
        assert!(!svg.contains("style="));
    }

    #[test]
    fn lines_leave_gaps_for_days_without_a_value() {
        let svg = lines(
            "waits",
            "Waits",
            &days(5),
            &[Series { name: "p50", color: BRAND, values: vec![Some(4.0), Some(6.0), None, Some(8.0), Some(3.0)] }],
            5.0,
            "m",
        );
        // Two runs: two lines of the series' colour, and a dot per value.
        assert_eq!(count(&svg, "stroke=\"#0B6E4F\" stroke-width=\"3\""), 2, "{svg}");
        assert_eq!(count(&svg, "<circle"), 4);
        assert!(svg.contains("\n0m\n"));
    }

    #[test]
    fn an_empty_range_still_draws_its_axes() {
        let svg = stacked_bars("patients", "Patients", &[], &[]);
        assert!(svg.contains("<svg") && svg.ends_with("</svg>\n"), "{svg}");
        let svg =
            lines("eta", "ETA", &days(1), &[Series { name: "hit", color: BRAND, values: vec![None] }], 100.0, "%");
        assert_eq!(count(&svg, "stroke=\"#0B6E4F\""), 0);
    }

    #[test]
    fn the_heat_map_has_a_cell_per_busy_hour() {
        let mut grid = [[0i64; 24]; 7];
        grid[0][9] = 10;
        grid[0][10] = 5;
        grid[6][18] = 1;
        let svg = heatmap("arrivals", "Arrivals", &grid);
        let cells = count(&svg, "<rect") - 1; // the background
        assert_eq!(cells, 3, "{svg}");
        assert!(svg.contains("\nMon\n") && svg.contains("\nSun\n") && svg.contains("\n9\n"), "{svg}");
        assert_eq!(heat(10, 10), BRAND);
        assert_eq!(heat(0, 10), WHITE);
        let light = heat(1, 10);
        assert!(light.0 > BRAND.0 && light.1 > BRAND.1);
    }
}
