"use client";

import { useRef } from "react";

import type { Variant } from "@tts/api";
// The browser-safe entry: the package root also exports the router, which pulls in @trpc/server.
import { TURBO_TAGS } from "@tts/api/generation";

const count = new Intl.NumberFormat("en");

/**
 * The text to speak, with its length against the node's limit. Over the limit it says so but still sends: the
 * node's own message then explains it. On Turbo, buttons insert paralinguistic tags at the cursor.
 */
export function TextField({
  text,
  onChange,
  maxLength,
  variant,
}: {
  text: string;
  onChange: (text: string) => void;
  maxLength: number | undefined;
  variant: Variant | undefined;
}) {
  const area = useRef<HTMLTextAreaElement>(null);
  const over = maxLength !== undefined && text.length > maxLength;

  const insert = (tag: string) => {
    const element = area.current;
    const start = element?.selectionStart ?? text.length;
    const end = element?.selectionEnd ?? text.length;
    const before = text.slice(0, start);
    const spaced = `${before && !before.endsWith(" ") ? " " : ""}${tag} `;
    onChange(`${before}${spaced}${text.slice(end)}`);
    // After React has rendered the new value: the cursor goes after the tag.
    requestAnimationFrame(() => {
      element?.focus();
      element?.setSelectionRange(start + spaced.length, start + spaced.length);
    });
  };

  return (
    <div className="field">
      <div className="field-head">
        <label htmlFor="speak-text">Text</label>
        <span id="speak-text-count" className={over ? "count over" : "count"} data-testid="text-count">
          {count.format(text.length)}
          {maxLength !== undefined && ` / ${count.format(maxLength)}`} characters
          {over && " (over the limit)"}
        </span>
      </div>
      <textarea
        id="speak-text"
        ref={area}
        value={text}
        rows={6}
        aria-describedby="speak-text-count"
        aria-invalid={over || undefined}
        placeholder={
          variant === "turbo"
            ? "Type something to say. Tags like [laugh] or [sigh] are spoken as sounds."
            : "Type something to say."
        }
        onChange={(event) => onChange(event.target.value)}
      />
      {variant === "turbo" && (
        <div className="tags" role="group" aria-label="Insert a sound tag">
          {TURBO_TAGS.slice(0, 10).map((tag) => (
            <button key={tag} type="button" className="chip" onClick={() => insert(tag)}>
              {tag}
            </button>
          ))}
        </div>
      )}
    </div>
  );
}
