//! Plain-text tables for the command line (comfy-table): columns two spaces apart,
//! no borders, the given columns right-aligned, trailing spaces trimmed.

use std::borrow::Cow;

use comfy_table::{CellAlignment, ContentArrangement, Table, TableComponent};

/// Text with its control characters escaped (`\n`, `\u{1b}`), for logs and tables: a
/// value from an alert or from AWS cannot forge a log line or move a terminal's cursor.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The header line and one line per row, each without its newline. Every column is as
/// wide as its widest cell, header included; control characters in cells are escaped.
pub fn lines(header: &[&str], rows: &[Vec<String>], right_aligned: &[usize]) -> (String, Vec<String>) {
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    for component in [
        TableComponent::LeftBorder,
        TableComponent::RightBorder,
        TableComponent::TopBorder,
        TableComponent::BottomBorder,
        TableComponent::HeaderLines,
        TableComponent::HorizontalLines,
        TableComponent::LeftHeaderIntersection,
        TableComponent::RightHeaderIntersection,
        TableComponent::MiddleHeaderIntersections,
        TableComponent::LeftBorderIntersections,
        TableComponent::RightBorderIntersections,
        TableComponent::MiddleIntersections,
        TableComponent::TopLeftCorner,
        TableComponent::TopRightCorner,
        TableComponent::BottomLeftCorner,
        TableComponent::BottomRightCorner,
        TableComponent::TopBorderIntersections,
        TableComponent::BottomBorderIntersections,
    ] {
        table.remove_style(component);
    }
    // One space between columns and one of padding: two in all.
    table.set_style(TableComponent::VerticalLines, ' ');
    table.set_content_arrangement(ContentArrangement::Disabled);
    table.set_header(header.to_vec());
    for row in rows {
        table.add_row(row.iter().map(|c| escape_controls(c).into_owned()).collect::<Vec<_>>());
    }
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, 1));
        if right_aligned.contains(&i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut lines = table.lines().map(|l| l.trim_end().to_owned());
    let header = lines.next().unwrap_or_default();
    (header, lines.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_is_kept() {
        assert_eq!(escape_controls("L-1216C47A"), "L-1216C47A");
        assert!(matches!(escape_controls("L-1216C47A"), Cow::Borrowed(_)));
        assert_eq!(escape_controls("x\nlevel=error msg=forged"), "x\\nlevel=error msg=forged");
        assert_eq!(escape_controls("\u{1b}[2Jé"), "\\u{1b}[2Jé");
    }

    #[test]
    fn columns_are_two_spaces_apart_numbers_right_aligned_and_lines_trimmed() {
        let rows = vec![
            vec!["L-1".to_owned(), "A long quota name".to_owned(), "320".to_owned(), "yes".to_owned()],
            vec!["L-22".to_owned(), "Short".to_owned(), "1,000,000".to_owned(), "".to_owned()],
        ];
        let (header, lines) = lines(&["CODE", "NAME", "LIMIT", "ADJUSTABLE"], &rows, &[2]);
        assert_eq!(header, "CODE  NAME                   LIMIT  ADJUSTABLE");
        assert_eq!(lines, ["L-1   A long quota name        320  yes", "L-22  Short              1,000,000"]);
        let (header, lines) = super::lines(&["A", "B"], &[], &[]);
        assert_eq!((header.as_str(), lines.len()), ("A  B", 0), "headers only as wide as themselves");
        let (_, lines) = super::lines(&["A"], &[vec!["x\n\u{1b}[2J".to_owned()]], &[]);
        assert_eq!(lines, ["x\\n\\u{1b}[2J"], "no cell can break a line or drive the terminal");
    }
}
