/** A loaded text file with line starts, so spans (offsets) become line:col only when rendered. */
export class SourceFile {
  private starts: number[] | undefined;
  constructor(
    readonly path: string,
    readonly text: string,
  ) {}

  /** Offsets where lines start, found on first use: most files never have a position rendered. */
  get lineStarts(): readonly number[] {
    if (this.starts === undefined) {
      const starts = [0];
      const text = this.text;
      for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
      this.starts = starts;
    }
    return this.starts;
  }

  /** 1-based line and column (column counts UTF-16 units, as editors and SARIF do). */
  position(offset: number): { line: number; column: number } {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.lineStarts[lo]! + 1 };
  }

  lineText(line: number): string {
    const start = this.lineStarts[line - 1] ?? this.text.length;
    const next = this.lineStarts[line];
    const end = next === undefined ? this.text.length : next - 1;
    return this.text.slice(start, end).replace(/\r$/, "");
  }

  /** `file:line:col` for a span start. */
  ref(offset: number): string {
    const p = this.position(offset);
    return `${this.path}:${p.line}:${p.column}`;
  }
}
