// The hub's live stream (/ws/events): reconnects by itself and asks for the events it missed.

import { hubUrl } from "./api.js";

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 15000;
const CLOSE_POLICY_VIOLATION = 1008;

/** Follows /ws/events and hands each parsed message to `onMessage`; state changes to `onState`. */
export class EventStream {
  constructor({ onMessage, onState, onRefused }) {
    this.onMessage = onMessage;
    this.onState = onState;
    this.onRefused = onRefused;
    this.lastEventId = null;
    this.retryMs = RETRY_MIN_MS;
    this.socket = null;
  }

  /** Open the connection (again, after a drop). */
  connect() {
    const url = hubUrl("ws/events");
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    // After a drop, replay what was stored meanwhile; the first connection is live only.
    if (this.lastEventId !== null) url.searchParams.set("after_id", String(this.lastEventId));
    // A busy hub may then send several waiting messages in one frame, as an array.
    url.searchParams.set("batch", "true");
    this.onState("connecting");
    const socket = new WebSocket(url.href);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.retryMs = RETRY_MIN_MS;
      this.onState("live");
    });
    socket.addEventListener("message", (event) => this.receive(event.data));
    socket.addEventListener("close", (event) => {
      this.onState("offline");
      if (event.code === CLOSE_POLICY_VIOLATION) this.onRefused();
      window.setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    });
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return; // Not JSON: nothing the panel can show.
    }
    for (const message of Array.isArray(frame) ? frame : [frame]) {
      if (message?.type === "event" && Number.isInteger(message.data?.id)) {
        this.lastEventId = Math.max(this.lastEventId ?? 0, message.data.id);
      }
      if (message?.type === "event" || message?.type === "incident") this.onMessage(message);
    }
  }
}
