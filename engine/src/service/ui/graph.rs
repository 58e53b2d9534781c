//! A process graph as SVG for a page: the DOT that `render` writes, laid
//! out in layers by `layout-rs`, with its own style block removed (the
//! pages' content security policy allows only the site's style sheet,
//! which sets the graph's type in Vazirmatn).
//!
//! Must not: place nodes itself, or let a layout fault take a page down.

/// The SVG of a DOT graph for inlining in a page, named `label` for
/// screen readers, or `None` when it could not be laid out.
pub(super) fn svg(dot: &str, label: &str) -> Option<String> {
    let dot = dot.to_owned();
    // The layout library is not ours: a panic inside it is a missing
    // graph, never a failed page.
    let drawn = std::panic::catch_unwind(move || {
        let mut parser = layout::gv::DotParser::new(&dot);
        let graph = parser.process().ok()?;
        let mut builder = layout::gv::GraphBuilder::new();
        builder.visit_graph(&graph);
        let mut visual = builder.get();
        let mut out = layout::backends::svg::SVGWriter::new();
        visual.do_it(false, false, false, &mut out);
        Some(out.finalize())
    })
    .ok()??;
    let start = drawn.find("<svg")?;
    let mut svg = drawn[start..].to_owned();
    if let (Some(a), Some(b)) = (svg.find("<style>"), svg.find("</style>")) {
        if a < b {
            svg.replace_range(a..b + "</style>".len(), "");
        }
    }
    let label = label
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    Some(svg.replacen(
        "<svg ",
        &format!(r#"<svg class="graph" role="img" aria-label="{label}" "#),
        1,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_graph_is_laid_out_without_a_style_block_and_bad_dot_is_none() {
        let svg = super::svg(
            "digraph g { a [label=\"آغاز\"]; b [label=\"پایان\", style=filled, fillcolor=\"#ffd27a\"]; a -> b; }",
            "نمودار \"<g>\"",
        )
        .expect("laid out");
        assert!(
            svg.starts_with(r#"<svg class="graph" role="img" aria-label="نمودار &quot;&lt;g&gt;&quot;" "#),
            "{svg}"
        );
        assert!(svg.contains("آغاز") && svg.contains("پایان"), "{svg}");
        assert!(svg.to_lowercase().contains("#ffd27a"), "the fill is kept: {svg}");
        assert!(!svg.contains("<style>"), "{svg}");
        assert!(super::svg("digraph { a -> ", "").is_none());
    }
}
