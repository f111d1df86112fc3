/** Column alignment of a Markdown table: left or right. */
export type Align = 'left' | 'right';

const MIN_COLUMN_WIDTH = 3;

function width(text: string): number {
  return [...text].length;
}

function pad(text: string, size: number, align: Align): string {
  const fill = ' '.repeat(Math.max(0, size - width(text)));
  return align === 'right' ? fill + text : text + fill;
}

/**
 * Renders a Markdown table with padded columns, the layout the repository's formatter
 * (Biome) writes, so that formatting the generated file changes nothing.
 */
export function markdownTable(
  header: readonly string[],
  align: readonly Align[],
  rows: readonly (readonly string[])[],
): string[] {
  const escaped = rows.map((row) => row.map((cell) => cell.replaceAll('|', '\\|')));
  const widths = header.map((title, column) =>
    Math.max(MIN_COLUMN_WIDTH, width(title), ...escaped.map((row) => width(row[column] ?? ''))),
  );
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, column) => pad(cell, widths[column]!, align[column] ?? 'left')).join(' | ')} |`;
  const separator = widths.map((size, column) =>
    align[column] === 'right' ? `${'-'.repeat(size - 1)}:` : '-'.repeat(size),
  );
  return [line(header), `| ${separator.join(' | ')} |`, ...escaped.map((row) => line(row))];
}
