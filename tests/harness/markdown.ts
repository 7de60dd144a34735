/** Reads the run summary back: its `###` sections and their GFM tables, as a reader of the page sees them. */

/** The text under each `### ` heading, by heading. */
export function sections(markdown: string): Map<string, string> {
  const result = new Map<string, string>();
  let heading: string | undefined;
  let body: string[] = [];
  const flush = () => {
    if (heading !== undefined) result.set(heading, body.join('\n'));
  };
  for (const line of markdown.split('\n')) {
    const match = /^### (.+)$/.exec(line);
    if (match) {
      flush();
      heading = match[1];
      body = [];
    } else {
      body.push(line);
    }
  }
  flush();
  return result;
}

function cells(row: string): string[] {
  const inner = row.trim().replace(/^\|/, '').replace(/\|$/, '');
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < inner.length; i++) {
    if (inner[i] === '\\' && inner[i + 1] === '|') {
      current += '|';
      i++;
    } else if (inner[i] === '|') {
      parts.push(current);
      current = '';
    } else {
      current += inner[i];
    }
  }
  parts.push(current);
  return parts.map((cell) => cell.trim());
}

/** A cell's text with a code span's backticks taken off (`x` → x), as the page shows it. */
export function plainCell(cell: string): string {
  const match = /^(`+) ?(.*?) ?\1$/.exec(cell);
  return match ? match[2] : cell;
}

/** The first table in a section, as rows keyed by header. */
export function firstTable(section: string): Array<Record<string, string>> {
  const lines = section.split('\n').filter((line) => line.trim().startsWith('|'));
  if (lines.length < 2) return [];
  const header = cells(lines[0]);
  if (!cells(lines[1]).every((cell) => /^:?-+:?$/.test(cell))) {
    throw new Error(`not a table: ${lines[1]}`);
  }
  return lines.slice(2).map((line) => {
    const row = cells(line);
    if (row.length !== header.length)
      throw new Error(`row has ${row.length} cells, header ${header.length}: ${line}`);
    return Object.fromEntries(header.map((name, i) => [name, row[i]]));
  });
}

/** The table under a heading; fails when the heading is missing. */
export function tableUnder(markdown: string, heading: string): Array<Record<string, string>> {
  const section = sections(markdown).get(heading);
  if (section === undefined) throw new Error(`no section '${heading}' in:\n${markdown}`);
  return firstTable(section);
}
