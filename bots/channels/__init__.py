"""What every channel shares, and nothing of any one channel.

- `base`: the `Channel` protocol (name, outbox key prefix, routes, lifecycle, outbox sender), the
  narrow `Handler` a channel hands its `Incoming` to, and `ChannelKit`, what the server gives channels;
- `inbox` / `processor`: the durable inbox (an event is a row before the platform gets its 200; rows
  leased one chat at a time, in order, retaken after a crash, purged after some days), and `Receipt`,
  which runs it for a channel;
- `turns`: one turn of a channel whose answers go through the outbox (failures and refusals pushed);
- `media`: recognising links to our own media store; `send_parts`: a reply sent part by part;
- `registry`: the table of channel classes, the configured channels, and the outbox key prefixes.

No channel imports another (`lint-imports`, contract `channels-independent`); they meet here.
"""
