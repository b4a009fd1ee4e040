// Pull options of the long-lived ordered consumers (projections, SSE hubs, the console tail,
// the trigger list). nats.js pulls expire after 30 s by default, with heartbeats every 15 s.
// When the node that holds an ordered consumer dies, the client notices after two missed
// heartbeats (30 s), and after a reconnect it checks its consumer again only after a backoff of
// that same 30 s: a read model stood still for 30 to 60 s after a node loss in a cluster.
// 5 s pulls bound that to a few seconds (then the consumer is made anew on a live node), for
// one pull request per consumer every 5 s while the stream is idle.
export const ORDERED_PULL = { expires: 5000 } as const
