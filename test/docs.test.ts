import t from 'tap'
import { readFile, readdir } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

// The README and docs/ hold together: every relative link names a file that exists and, with a
// #fragment, a heading of that file (GitHub's anchors); the README links every docs page; every
// screenshot is shown somewhere; every npm command they show is a script of package.json.

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const docsDir = join(root, 'docs')
const docPages = (await readdir(docsDir)).filter(f => f.endsWith('.md')).sort()
const pages = ['README.md', ...docPages.map(f => join('docs', f))]
const text = new Map<string, string>()
for (const p of pages) text.set(p, await readFile(join(root, p), 'utf8'))

/** The Markdown outside fenced code blocks. */
function prose (markdown: string): string {
  let fenced = false
  return markdown.split('\n').filter(line => {
    if (line.trimStart().startsWith('```')) { fenced = !fenced; return false }
    return !fenced
  }).join('\n')
}

/** GitHub's anchor of each heading: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
function anchorsOf (markdown: string): Set<string> {
  const seen = new Map<string, number>()
  const anchors = new Set<string>()
  for (const m of prose(markdown).matchAll(/^#{1,6} (.+)$/gm)) {
    const base = m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/ /g, '-')
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    anchors.add(n === 0 ? base : `${base}-${n}`)
  }
  return anchors
}

/** Relative links and images: [text](target) outside code, and not in inline code. */
function linksOf (markdown: string): string[] {
  const withoutInlineCode = prose(markdown).replace(/`[^`\n]*`/g, '')
  return [...withoutInlineCode.matchAll(/\]\(([^)\s]+)\)/g)].map(m => m[1]!).filter(l => !/^[a-z]+:/i.test(l))
}

t.test('every relative link names a file, and a heading of it', async t => {
  for (const page of pages) {
    for (const link of linksOf(text.get(page)!)) {
      const [path, fragment] = link.split('#') as [string, string | undefined]
      const target = path === '' ? page : relative(root, resolve(root, dirname(page), path))
      t.ok(existsSync(join(root, target)), `${page}: ${link} names a file`)
      if (fragment !== undefined && target.endsWith('.md')) {
        const markdown = text.get(target) ?? await readFile(join(root, target), 'utf8')
        t.ok(anchorsOf(markdown).has(fragment), `${page}: ${link} names a heading of ${target}`)
      }
    }
  }
})

t.test('the README links every docs page, and every page starts with its contents', async t => {
  const readmeLinks = new Set(linksOf(text.get('README.md')!).map(l => l.split('#')[0]))
  for (const f of docPages) {
    t.ok(readmeLinks.has(`docs/${f}`), `the README links docs/${f}`)
    if (f !== 'README.md') t.match(text.get(join('docs', f))!.split('\n## ')[0], /\*\*Contents\*\*\n\n- \[/, `docs/${f} starts with its contents`)
  }
})

t.test('every screenshot in docs/ is shown on a page', async t => {
  const shown = new Set(pages.flatMap(p => linksOf(text.get(p)!).map(l => relative(root, resolve(root, dirname(p), l)))))
  for (const png of (await readdir(docsDir)).filter(f => f.endsWith('.png'))) {
    t.ok(shown.has(join('docs', png)), `docs/${png} is shown`)
  }
})

t.test('every npm command shown is a script of package.json', async t => {
  const scripts = Object.keys((JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts)
  const named = new Set<string>()
  for (const page of pages) {
    for (const m of text.get(page)!.matchAll(/\bnpm (?:run(?: -s)? ([a-z][a-z0-9:-]*)|(start|test)\b)/g)) named.add(m[1] ?? m[2]!)
  }
  t.ok(named.size >= 8, `the pages name ${named.size} scripts`)
  for (const name of named) t.ok(scripts.includes(name), `npm script ${name} exists`)
})
