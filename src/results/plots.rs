//! The HTML report's charts, as inline SVG drawn by plotters' SVG backend:
//! one [`Chart`] (titled, labelled axes with units, a legend, optional
//! stage boundaries and an objective line) is one `<svg>` string.
//!
//! Every chart is a line chart on plain `f64` axes. The percentile
//! spectrum's "nines" axis is one too: x is `log10(1 / (1 - q))`, so 90%,
//! 99% and 99.9% are evenly spaced (HdrHistogram's plotter), labelled back
//! as percentiles by [`nines_label`]. A log y axis is drawn the same way
//! (`log10(y)`, labelled back as `y`). A chart with no data is not drawn
//! (the page says why instead): every drawn chart has data.

use plotters::prelude::*;

/// Chart size in SVG pixels: two side by side fit a laptop screen.
pub const SIZE: (u32, u32) = (640, 340);

/// The stroke width of data lines (and the objective), and only of them:
/// the page's self-check counts `polyline[stroke-width="2"]` as drawn data.
pub const DATA_STROKE: u32 = 2;

/// The legend's line samples: thicker, and not counted as data.
pub const LEGEND_STROKE: u32 = 4;

/// Line colours, in legend order: distinct on white and for the common
/// colour-vision deficiencies (the Okabe-Ito palette).
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
];

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Line {
    /// Its legend entry.
    pub name: String,
    /// Its points (x, y), in x order.
    pub points: Vec<(f64, f64)>,
    /// Also mark each point with a dot (few points, e.g. search steps).
    pub dots: bool,
}

impl Line {
    /// A line without dots.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Line {
        Line {
            name: name.into(),
            points,
            dots: false,
        }
    }
}

/// One chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Its title.
    pub title: String,
    /// The x axis's description, with its unit.
    pub x_label: String,
    /// The y axis's description, with its unit.
    pub y_label: String,
    /// The lines.
    pub lines: Vec<Line>,
    /// Vertical marks at these x values (stage boundaries).
    pub marks: Vec<f64>,
    /// A horizontal line at y, with its legend entry (an objective).
    pub objective: Option<(f64, String)>,
    /// The x axis is the percentile "nines" axis.
    pub nines: bool,
    /// The y axis is logarithmic (whole decades).
    pub log_y: bool,
}

impl Chart {
    /// A chart of `lines` with the given title and axis labels.
    pub fn new(title: &str, x_label: &str, y_label: &str, lines: Vec<Line>) -> Chart {
        Chart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            lines,
            marks: Vec::new(),
            objective: None,
            nines: false,
            log_y: false,
        }
    }

    /// The data polylines the drawn chart holds (lines of two points or
    /// more, and the objective): what the page's self-check expects.
    pub fn data_lines(&self) -> usize {
        let lines = self.lines.iter().filter(|l| l.points.len() >= 2).count();
        lines + usize::from(self.objective.is_some() && lines > 0)
    }

    /// The chart as an `<svg>` element; `None` when it has no data to
    /// draw (no line with a point).
    pub fn svg(&self) -> Option<Result<String, String>> {
        // A log axis draws log10(y) on a plain one (labelled back as y);
        // values of 0 or less have no place on it.
        let logged: Vec<Line> = self
            .lines
            .iter()
            .map(|l| Line {
                points: l
                    .points
                    .iter()
                    .filter(|p| p.1 > 0.0)
                    .map(|p| (p.0, p.1.log10()))
                    .collect(),
                ..l.clone()
            })
            .collect();
        let source = if self.log_y { &logged } else { &self.lines };
        let lines: Vec<&Line> = source.iter().filter(|l| !l.points.is_empty()).collect();
        if lines.is_empty() {
            return None;
        }
        let mut out = String::new();
        let drawn = self
            .draw(&lines, &mut out)
            .map_err(|e| format!("{}: {e}", self.title));
        Some(drawn.map(|()| out))
    }

    fn draw(&self, lines: &[&Line], out: &mut String) -> Result<(), String> {
        let all = || lines.iter().flat_map(|l| l.points.iter());
        let (mut x0, mut x1) =
            all().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
        if self.nines {
            // The spectrum starts at 0% and shows at least 90%.
            (x0, x1) = (0.0, x1.max(1.0));
        } else if x1 <= x0 {
            (x0, x1) = (x0 - 0.5, x0 + 0.5);
        }
        let objective = self.objective.as_ref().map(|(y, name)| {
            let y = if self.log_y { y.max(1e-3).log10() } else { *y };
            (y, name)
        });
        let mut y1 = all().map(|p| p.1).fold(f64::MIN, f64::max);
        if let Some((y, _)) = objective {
            y1 = y1.max(y);
        }
        let (y0, y1) = if self.log_y {
            // Whole decades: 1, 10, 100 us...
            let y0 = all().map(|p| p.1).fold(f64::MAX, f64::min).floor();
            (y0, y1.ceil().max(y0 + 1.0))
        } else if y1 > 0.0 {
            (0.0, y1 * 1.1)
        } else {
            (0.0, 1.0)
        };
        let root = SVGBackend::with_string(out, SIZE).into_drawing_area();
        let e = |e: &dyn std::fmt::Display| e.to_string();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(75)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|x| e(&x))?;
        let (nines, log_y) = (self.nines, self.log_y);
        let x_format = move |x: &f64| {
            if nines { nines_label(*x) } else { short(*x) }
        };
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 15))
            .x_labels(if nines {
                (x1.ceil() as usize).max(1) + 1
            } else {
                10
            })
            .x_label_formatter(&x_format)
            .y_labels(if log_y { (y1 - y0) as usize + 1 } else { 10 })
            .y_label_formatter(&|y| short(if log_y { 10f64.powf(*y) } else { *y }))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|x| e(&x))?;
        for (i, line) in lines.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let style = ShapeStyle::from(&color).stroke_width(DATA_STROKE);
            let key = ShapeStyle::from(&color).stroke_width(LEGEND_STROKE);
            chart
                .draw_series(LineSeries::new(line.points.iter().copied(), style))
                .map_err(|x| e(&x))?
                .label(line.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], key));
            if line.dots || line.points.len() == 1 {
                chart
                    .draw_series(
                        line.points
                            .iter()
                            .map(|&p| Circle::new(p, 3, color.filled())),
                    )
                    .map_err(|x| e(&x))?;
            }
        }
        let grey = ShapeStyle::from(&RGBColor(150, 150, 150)).stroke_width(1);
        for (i, &x) in self.marks.iter().enumerate() {
            let drawn = chart
                .draw_series(LineSeries::new([(x, y0), (x, y1)], grey))
                .map_err(|x| e(&x))?;
            if i == 0 {
                drawn
                    .label("stage boundary")
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], grey));
            }
        }
        if let Some((y, name)) = objective {
            let red = RGBColor(200, 0, 0);
            let style = ShapeStyle::from(&red).stroke_width(DATA_STROKE);
            let key = ShapeStyle::from(&red).stroke_width(LEGEND_STROKE);
            chart
                .draw_series(LineSeries::new([(x0, y), (x1, y)], style))
                .map_err(|x| e(&x))?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], key));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|x| e(&x))?;
        root.present().map_err(|x| e(&x))?;
        Ok(())
    }
}

/// The percentile at `x` on the nines axis (`x = log10(1 / (1 - q))`):
/// 0 -> "0%", 1 -> "90%", 2 -> "99%", 3 -> "99.9%".
pub fn nines_label(x: f64) -> String {
    let q = 100.0 * (1.0 - 10f64.powf(-x));
    let decimals = (x.ceil() as usize).saturating_sub(2).min(6);
    format!("{q:.decimals$}%")
}

/// The nines-axis position of quantile `q` (< 1).
pub fn nines_x(q: f64) -> f64 {
    -(1.0 - q).log10()
}

/// An axis value, short: 1200 -> "1.2k", 3500000 -> "3.5M".
fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a == a.round() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nines_axis_labels_percentiles() {
        assert_eq!(nines_label(0.0), "0%");
        assert_eq!(nines_label(1.0), "90%");
        assert_eq!(nines_label(2.0), "99%");
        assert_eq!(nines_label(3.0), "99.9%");
        assert_eq!(nines_label(4.0), "99.99%");
        assert!((nines_x(0.999) - 3.0).abs() < 1e-9);
    }

    #[test]
    fn a_chart_draws_its_lines_labels_and_legend_or_nothing() {
        let mut c = Chart::new(
            "Throughput",
            "time into the window (s)",
            "replies per second",
            vec![Line::new("completed/s", vec![(0.0, 10.0), (1.0, 12.0)])],
        );
        c.marks = vec![0.5];
        c.objective = Some((11.0, "objective".into()));
        let svg = c.svg().unwrap().unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        for text in [
            "Throughput",
            "time into the window (s)",
            "replies per second",
            "completed/s",
            "stage boundary",
            "objective",
        ] {
            assert!(svg.contains(text), "{text} missing");
        }
        assert_eq!(svg.matches("stroke-width=\"2\"").count(), c.data_lines());
        assert_eq!(c.data_lines(), 2);
        let mut log = Chart::new(
            "x",
            "x",
            "y",
            vec![Line::new("l", vec![(0.0, 20.0), (1.0, 900.0)])],
        );
        log.log_y = true;
        let svg = log.svg().unwrap().unwrap();
        // Labels at whole decades only (plotters writes a text's content on
        // its own line).
        for decade in ["10", "100", "1.0k"] {
            assert!(
                svg.contains(&format!("\n{decade}\n</text>")),
                "{decade}: {svg}"
            );
        }
        assert!(!svg.contains("\n31.6\n</text>"), "no half decades");
        let empty = Chart::new("x", "x", "y", vec![Line::new("none", vec![])]);
        assert!(empty.svg().is_none());
    }
}
