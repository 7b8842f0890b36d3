// The console's websocket (/ws/console/, session cookie): reconnects with exponential backoff.

const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 30000;

export class LiveSocket {
  constructor({ onFrame, onOpen, onStatus, resumeList }) {
    this.onFrame = onFrame;
    // () => [[conversationId, afterSeq], …]: caught up atomically at connect (?resume=12:40,13:0).
    this.resumeList = resumeList || (() => []);
    this.onOpen = onOpen;
    this.onStatus = onStatus || (() => {});
    this.attempts = 0;
    this.socket = null;
    this.timer = null;
    window.addEventListener("online", () => {
      if (!this.socket) {
        this.attempts = 0;
        this.connect();
      }
    });
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const resume = this.resumeList()
      .map(([id, seq]) => `${id}:${seq}`)
      .join(",");
    return `${scheme}//${location.host}/ws/console/${resume ? `?resume=${resume}` : ""}`;
  }

  connect() {
    clearTimeout(this.timer);
    let socket;
    try {
      socket = new WebSocket(this.url());
    } catch {
      this.retry();
      return;
    }
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.attempts = 0;
      this.onStatus("connected");
      this.onOpen();
    });
    socket.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.onFrame(frame);
    });
    socket.addEventListener("close", (event) => {
      if (this.socket === socket) this.socket = null;
      if (event.code === 4401 || event.code === 4403) {
        this.onStatus("logged-out");
        return;
      }
      this.retry();
    });
  }

  retry() {
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** this.attempts);
    this.attempts += 1;
    this.onStatus("reconnecting");
    this.timer = setTimeout(() => this.connect(), delay / 2 + Math.random() * (delay / 2));
  }

  send(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }
}
