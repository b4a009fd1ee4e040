// Charts of counts per minute, drawn by hand as inline SVG (no chart library is installed, and
// the console's CSP allows no inline style: colours are SVG presentation attributes). A stacked
// bar per minute, the y axis in round steps, a time every 15 minutes, a tooltip per minute (the
// SVG <title>), and a legend with each series' total.

import { useEffect, useRef, useState } from 'preact/hooks'
import { html, count } from './ui.js'

/** Ten colours told apart by most eyes (Tableau 10), then grey for "other". */
export const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#17becf']
export const OTHER = '#bab0ac'

const HEIGHT = 170
const LEFT = 44
const RIGHT = 8
const TOP = 8
const BOTTOM = 22

/** The width of an element, kept current as it resizes. */
function useWidth (fallback = 600) {
  const ref = useRef(null)
  const [width, setWidth] = useState(fallback)
  useEffect(() => {
    if (ref.current === null) return
    const measure = () => {
      if (ref.current !== null) setWidth(Math.max(240, Math.floor(ref.current.getBoundingClientRect().width)))
    }
    measure()
    const observer = new window.ResizeObserver(measure)
    observer.observe(ref.current)
    return () => observer.disconnect()
  }, [])
  return [ref, width]
}

/** A round top for the y axis: 1, 2 or 5 × 10ⁿ, at least `max`. */
function niceMax (max) {
  if (max <= 0) return 4
  const p = 10 ** Math.floor(Math.log10(max))
  const step = [1, 2, 5, 10].find(s => s * p >= max)
  return step * p
}

const hhmm = ms => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })

/**
 * `from`: start of the first minute (ISO); `series`: [{ name, counts, color }] stacked bottom
 * up in that order; `label`: what the chart shows, for screen readers and the empty state.
 */
export function MinuteChart ({ from, series, label, empty = 'Nothing in the last hour.' }) {
  const [ref, width] = useWidth()
  const minutes = series[0]?.counts.length ?? 60
  const start = Date.parse(from)
  const totals = Array.from({ length: minutes }, (_, i) => series.reduce((n, s) => n + (s.counts[i] ?? 0), 0))
  const top = niceMax(Math.max(0, ...totals))
  const plotW = width - LEFT - RIGHT
  const plotH = HEIGHT - TOP - BOTTOM
  const slot = plotW / minutes
  const bar = Math.max(1, slot - (slot > 4 ? 1 : 0))
  const y = v => TOP + plotH - (v / top) * plotH
  const all = totals.reduce((a, b) => a + b, 0)
  const ticks = Number.isInteger(top / 2) ? [0, top / 2, top] : [0, top]

  return html`<figure class="chart" ref=${ref}>
    <svg width=${width} height=${HEIGHT} role="img" aria-label=${`${label}: ${count(all)} in the last hour`}>
      ${ticks.map(v => html`<g key=${v}>
        <line x1=${LEFT} x2=${width - RIGHT} y1=${y(v)} y2=${y(v)} stroke="#e3e6eb" stroke-width="1" />
        <text x=${LEFT - 6} y=${y(v) + 4} text-anchor="end" font-size="11" fill="#667085">${count(v)}</text>
      </g>`)}
      ${Array.from({ length: minutes }, (_, i) => {
        let base = 0
        const x = LEFT + i * slot
        const at = start + i * 60_000
        const parts = series.map(s => {
          const v = s.counts[i] ?? 0
          const rect = v === 0 ? null : html`<rect x=${x} y=${y(base + v)} width=${bar} height=${Math.max(1, y(base) - y(base + v))} fill=${s.color} />`
          base += v
          return rect
        })
        const tip = `${hhmm(at)}: ${totals[i] === 0 ? 'none' : series.filter(s => (s.counts[i] ?? 0) > 0).map(s => `${s.name} ${count(s.counts[i])}`).join(', ')}`
        return html`<g key=${i} class="minute" data-minute=${i}>
          ${parts}
          <rect x=${x} y=${TOP} width=${slot} height=${plotH} fill="transparent"><title>${tip}</title></rect>
        </g>`
      })}
      ${Array.from({ length: minutes }, (_, i) => i).filter(i => (minutes - 1 - i) % 15 === 0).map(i => html`<text key=${`t${i}`}
        x=${i === minutes - 1 ? width - RIGHT : LEFT + i * slot + slot / 2} y=${HEIGHT - 6} text-anchor=${i === minutes - 1 ? 'end' : 'middle'}
        font-size="11" fill="#667085">${hhmm(start + i * 60_000)}</text>`)}
      ${all === 0 ? html`<text x=${LEFT + plotW / 2} y=${TOP + plotH / 2} text-anchor="middle" font-size="13" fill="#667085">${empty}</text>` : null}
    </svg>
    <figcaption>
      <ul class="legend">
        ${series.filter(s => s.total === undefined || s.total > 0 || series.length <= 3).map(s => html`<li key=${s.name} data-series=${s.name}>
          <svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" rx="2" fill=${s.color} /></svg>
          <span class="name">${s.name}</span> <span class="num muted">${count(s.total ?? s.counts.reduce((a, b) => a + b, 0))}</span>
        </li>`)}
      </ul>
    </figcaption>
  </figure>`
}
