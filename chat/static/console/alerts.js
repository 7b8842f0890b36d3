// New-message alerts: a short beep made with the Web Audio API and a desktop Notification.

let audio = null;

function unlockAudio() {
  if (!audio && (window.AudioContext || window.webkitAudioContext)) {
    audio = new (window.AudioContext || window.webkitAudioContext)();
  }
  if (audio && audio.state === "suspended") audio.resume();
}
// Browsers only let a page play sound after a user gesture.
document.addEventListener("pointerdown", unlockAudio, { once: true });
document.addEventListener("keydown", unlockAudio, { once: true });

export function beep() {
  if (!audio || audio.state !== "running") return false;
  const now = audio.currentTime;
  const gain = audio.createGain();
  gain.connect(audio.destination);
  gain.gain.setValueAtTime(0.0001, now);
  gain.gain.exponentialRampToValueAtTime(0.2, now + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.35);
  for (const [frequency, start] of [
    [880, 0],
    [1320, 0.12],
  ]) {
    const oscillator = audio.createOscillator();
    oscillator.type = "sine";
    oscillator.frequency.setValueAtTime(frequency, now + start);
    oscillator.connect(gain);
    oscillator.start(now + start);
    oscillator.stop(now + start + 0.2);
  }
  window.__cxhubBeeps = (window.__cxhubBeeps || 0) + 1;
  return true;
}

export function notificationsAvailable() {
  return "Notification" in window;
}

export function notificationsAllowed() {
  return notificationsAvailable() && Notification.permission === "granted";
}

export async function askNotificationPermission() {
  if (!notificationsAvailable() || Notification.permission !== "default") return Notification.permission;
  return Notification.requestPermission();
}

/** A desktop notification (plain text: the browser never renders it as HTML). */
export function notify(title, body, onClick) {
  window.__cxhubNotifications = (window.__cxhubNotifications || 0) + 1;
  if (!notificationsAllowed()) return null;
  const notification = new Notification(title, { body: body.slice(0, 180), tag: `cxhub-${title}` });
  notification.addEventListener("click", () => {
    window.focus();
    if (onClick) onClick();
    notification.close();
  });
  return notification;
}
