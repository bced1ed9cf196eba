/**
 * Finds the links of Markdown files that do not resolve inside the repository: relative links and
 * images whose file is missing or outside the repository, and #anchors that name no heading of
 * their target (GitHub's heading ids). Code spans that name a repository file (`docs/deploy.md`)
 * count too: a reader follows them like links. Fenced code blocks are skipped; external URLs are
 * not fetched.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface LinkProblem {
  readonly file: string;
  readonly line: number;
  readonly target: string;
  readonly problem: string;
}

/** Lines of the file outside fenced code blocks, with their 1-based numbers. */
function proseLines(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  let fence: string | undefined;
  text.split('\n').forEach((content, i) => {
    const marker = /^\s{0,3}(```+|~~~+)/.exec(content)?.[1];
    if (marker !== undefined) {
      if (fence === undefined) fence = marker[0] ?? '`';
      else if (marker.startsWith(fence)) fence = undefined;
      return;
    }
    if (fence === undefined) out.push({ line: i + 1, text: content });
  });
  return out;
}

/** GitHub's id for a heading: lower case, punctuation dropped, spaces as hyphens; repeats get -1, -2, ... */
export function headingIds(markdown: string): Set<string> {
  const ids = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text } of proseLines(markdown)) {
    const heading = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(text)?.[1];
    if (heading === undefined) continue;
    const rendered = heading
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
      .replace(/<[^>]+>/g, '') // inline HTML
      .replace(/[`*]/g, ''); // code and emphasis markers
    const base = rendered
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    ids.add(count === 0 ? base : `${base}-${count}`);
  }
  return ids;
}

/** Targets of inline links and images, reference definitions, and code spans that look like repository paths. */
function targetsOf(markdown: string): { line: number; target: string; fromCodeSpan: boolean }[] {
  const out: { line: number; target: string; fromCodeSpan: boolean }[] = [];
  for (const { line, text } of proseLines(markdown)) {
    const spans = [...text.matchAll(/(`+)(.+?)\1/g)];
    for (const span of spans) {
      const content = (span[2] ?? '').trim();
      // A relative path with a directory and a file extension, no wildcard, no spaces, no URL.
      if (/^(\.{1,2}\/)*[\w.-]+(\/[\w.-]+)+\.[a-z]{2,5}(#[\w-]+)?$/.test(content) && !content.includes('://')) {
        out.push({ line, target: content, fromCodeSpan: true });
      }
    }
    const prose = text.replace(/(`+)(.+?)\1/g, '');
    for (const match of prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      out.push({ line, target: match[1] ?? '', fromCodeSpan: false });
    }
    const definition = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+["'(].*)?$/.exec(prose);
    if (definition?.[1] !== undefined) out.push({ line, target: definition[1], fromCodeSpan: false });
  }
  return out;
}

/** The problems of one Markdown file's links; `root` is the repository. */
export function checkMarkdownFile(file: string, root: string): LinkProblem[] {
  const markdown = fs.readFileSync(file, 'utf8');
  const relativeFile = path.relative(root, file);
  const problems: LinkProblem[] = [];
  for (const { line, target, fromCodeSpan } of targetsOf(markdown)) {
    const report = (problem: string) => problems.push({ file: relativeFile, line, target, problem });
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:: not ours to resolve
    const [rawPath, anchor] = target.split('#', 2) as [string, string | undefined];
    let targetPath = rawPath === '' ? file : path.resolve(path.dirname(file), decodeURIComponent(rawPath));
    if (fromCodeSpan && !fs.existsSync(targetPath)) {
      // A path in prose is often written from the repository root.
      const fromRoot = path.resolve(root, decodeURIComponent(rawPath));
      if (fs.existsSync(fromRoot)) targetPath = fromRoot;
    }
    const inside = path.relative(root, targetPath);
    if (inside.startsWith('..') || path.isAbsolute(inside)) {
      report('points outside the repository');
      continue;
    }
    if (!fs.existsSync(targetPath)) {
      report('no such file in the repository');
      continue;
    }
    if (anchor !== undefined && anchor !== '') {
      if (!targetPath.endsWith('.md')) {
        report('an anchor into a file that is not Markdown');
        continue;
      }
      const ids = headingIds(fs.readFileSync(targetPath, 'utf8'));
      if (!ids.has(decodeURIComponent(anchor).toLowerCase())) report(`no heading #${anchor} in ${path.relative(root, targetPath)}`);
    }
  }
  return problems;
}

/** Markdown files under a directory, recursively. */
export function markdownFilesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return markdownFilesUnder(full);
    return entry.name.endsWith('.md') ? [full] : [];
  });
}
