"use client";

import type { Variant } from "@tts/api";

import { DEFAULT_SPEECH_SETTINGS, type SpeechSettings } from "../lib/settings";

interface SliderProps {
  id: string;
  label: string;
  hint: string;
  value: number;
  min: number;
  max: number;
  step: number;
  onChange: (value: number) => void;
}

function Slider({ id, label, hint, value, min, max, step, onChange }: SliderProps) {
  return (
    <div className="slider">
      <label htmlFor={id}>
        {label} <output htmlFor={id}>{value.toFixed(2)}</output>
      </label>
      <input
        id={id}
        type="range"
        min={min}
        max={max}
        step={step}
        value={value}
        aria-describedby={`${id}-hint`}
        onChange={(event) => onChange(Number(event.target.value))}
      />
      <small id={`${id}-hint`} className="muted">
        {hint}
      </small>
    </div>
  );
}

type NumericSetting = "temperature" | "speed" | "exaggeration" | "cfgWeight";

/** The sliders, in order; `english` ones only on an English node. */
const SLIDERS: (Omit<SliderProps, "value" | "onChange"> & {
  key: NumericSetting;
  english?: true;
  /** Only where the node runs classifier-free guidance (health: `model.guidance`). */
  guided?: true;
})[] = [
  {
    key: "temperature",
    id: "setting-temperature",
    label: "Temperature",
    hint: "Lower is steadier, higher more varied.",
    min: 0.05,
    max: 2,
    step: 0.05,
  },
  {
    key: "speed",
    id: "setting-speed",
    label: "Speed",
    hint: "Tempo without changing pitch.",
    min: 0.5,
    max: 2,
    step: 0.05,
  },
  {
    key: "exaggeration",
    id: "setting-exaggeration",
    label: "Exaggeration",
    hint: "Emotion intensity; 0.5 is neutral.",
    min: 0,
    max: 2,
    step: 0.05,
    english: true,
  },
  {
    key: "cfgWeight",
    id: "setting-cfg",
    label: "CFG weight",
    hint: "How closely it follows the text and voice; 0 turns guidance off.",
    min: 0,
    max: 2,
    step: 0.05,
    english: true,
    guided: true,
  },
];

/** The settings that make sense for the node's variant: English adds exaggeration and guidance. */
export function SettingsPanel({
  settings,
  onChange,
  variant,
  guided,
}: {
  settings: SpeechSettings;
  onChange: (settings: SpeechSettings) => void;
  variant: Variant | undefined;
  guided: boolean;
}) {
  return (
    <details className="settings">
      <summary>Settings</summary>
      <div className="settings-grid">
        {SLIDERS.filter(
          (slider) => (!slider.english || variant === "english") && (!slider.guided || guided),
        ).map(({ key, english: _english, guided: _guided, ...slider }) => (
          <Slider
            key={key}
            {...slider}
            value={settings[key]}
            onChange={(value) => onChange({ ...settings, [key]: value })}
          />
        ))}
        <div className="slider">
          <label htmlFor="setting-seed">Seed</label>
          <input
            id="setting-seed"
            type="number"
            inputMode="numeric"
            min={0}
            max={4294967295}
            placeholder="random"
            value={settings.seed}
            aria-describedby="setting-seed-hint"
            onChange={(event) => onChange({ ...settings, seed: event.target.value })}
          />
          <small id="setting-seed-hint" className="muted">
            The same seed and text give the same audio.
          </small>
        </div>
      </div>
      <button type="button" className="link" onClick={() => onChange(DEFAULT_SPEECH_SETTINGS)}>
        Reset to defaults
      </button>
    </details>
  );
}
