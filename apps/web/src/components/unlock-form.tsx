"use client";

import { useState, type FormEvent } from "react";

/** The site password, for private deployments: it unlocks this browser's session, then the page reloads. */
export function UnlockForm() {
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setPending(true);
    setError(undefined);
    const response = await fetch("/api/session/unlock", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ password }),
    }).catch(() => null);
    setPending(false);
    if (response?.ok) return window.location.reload();
    const body = (await response?.json().catch(() => null)) as { error?: string } | null;
    setError(body?.error ?? "The web server could not be reached.");
  };
  return (
    <form className="card unlock" onSubmit={(event) => void submit(event)}>
      <h2>This site is private</h2>
      <label htmlFor="site-password">Password</label>
      <input
        id="site-password"
        type="password"
        autoComplete="current-password"
        value={password}
        onChange={(event) => setPassword(event.target.value)}
      />
      <button type="submit" disabled={pending || password === ""}>
        Unlock
      </button>
      {error && (
        <p role="alert" className="error-text">
          {error}
        </p>
      )}
    </form>
  );
}
