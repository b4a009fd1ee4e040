// The Jetway console: a shell (who is signed in, the pages) around one page at a time, chosen
// by the URL's hash (#/overview, #/tail, …). It reads Jetway's own HTTP API only.

import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { api, session, ApiError } from './lib/api.js'
import { html, ErrorBanner } from './lib/ui.js'
import { Overview } from './pages/overview.js'
import { Tail } from './pages/tail.js'
import { Events } from './pages/events.js'
import { Jobs } from './pages/jobs.js'
import { Meetings } from './pages/meetings.js'
import { Tasks } from './pages/tasks.js'
import { DeadLetters } from './pages/dlq.js'
import { Relay } from './pages/relay.js'

const PAGES = [
  { path: 'overview', title: 'Overview', admin: true, page: Overview },
  { path: 'tail', title: 'Live tail', page: Tail },
  { path: 'events', title: 'Events', page: Events },
  { path: 'jobs', title: 'Jobs', page: Jobs },
  { path: 'meetings', title: 'Meetings', page: Meetings },
  { path: 'tasks', title: 'Tasks', page: Tasks },
  { path: 'relay', title: 'Relay', admin: true, page: Relay },
  { path: 'dlq', title: 'Dead letters', admin: true, page: DeadLetters }
]

function useHash () {
  const [hash, setHash] = useState(location.hash)
  useEffect(() => {
    const on = () => setHash(location.hash)
    addEventListener('hashchange', on)
    return () => removeEventListener('hashchange', on)
  }, [])
  return hash.replace(/^#\/?/, '')
}

function SignIn ({ error, onToken }) {
  const [token, setToken] = useState('')
  const submit = e => {
    e.preventDefault()
    onToken(token.trim())
  }
  return html`<main class="signin">
    <h1>Jetway console</h1>
    <p>This Jetway runs with <code>AUTH_MODE=jwt</code>. Paste a token (a JWT whose <code>sub</code> names you;
      role <code>admin</code> sees everything). It is kept for this browser tab only.</p>
    <${ErrorBanner} error=${error} />
    <form onSubmit=${submit}>
      <label for="token">Bearer token</label>
      <textarea id="token" rows="4" autocomplete="off" spellcheck="false" value=${token} onInput=${e => setToken(e.target.value)} required></textarea>
      <button type="submit" class="primary">Sign in</button>
    </form>
  </main>`
}

function App () {
  const [me, setMe] = useState(undefined)
  const [error, setError] = useState(undefined)
  const [needsToken, setNeedsToken] = useState(false)
  const route = useHash()

  const load = async () => {
    try {
      setMe(await api('/api/whoami'))
      setNeedsToken(false)
      setError(undefined)
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        setNeedsToken(true)
        if (session.token !== '') setError(err)
      } else {
        setError(err)
      }
    }
  }
  useEffect(() => { load() }, [])

  if (needsToken) return html`<${SignIn} error=${error} onToken=${token => { session.token = token; load() }} />`
  if (me === undefined) {
    return html`<main class="page">${error === undefined ? html`<p class="boot">Loading…</p>` : html`<${ErrorBanner} error=${error} onRetry=${load} />`}</main>`
  }

  const pages = PAGES.filter(p => !p.admin || me.admin)
  const current = pages.find(p => p.path === route) ?? pages[0]
  const signOut = () => { session.token = ''; setMe(undefined); setNeedsToken(true) }
  const Page = current.page
  return html`<div class="shell">
    <header class="top">
      <a class="brand" href="#/">Jetway</a>
      <nav aria-label="Console pages">
        ${pages.map(p => html`<a href=${`#/${p.path}`} aria-current=${p === current ? 'page' : undefined}>${p.title}</a>`)}
      </nav>
      <div class="who">
        ${me.authMode === 'off'
          ? html`<span class="badge neutral" title="AUTH_MODE=off: every request acts as admin">auth off</span>`
          : html`<span>${me.userId}</span>${me.admin ? html` <span class="badge info">admin</span>` : null}
              <button class="link" onClick=${signOut}>Sign out</button>`}
        <a class="link" href="/docs" target="_blank" rel="noopener">API docs</a>
      </div>
    </header>
    <main class="page" id=${`page-${current.path}`}>
      <h1>${current.title}</h1>
      <${Page} me=${me} />
    </main>
  </div>`
}

const root = document.getElementById('app')
root.textContent = ''
render(html`<${App} />`, root)
