import { describe, expect, it } from 'vitest';
import { uuidv7, uuidv7Time } from '../src/internal/uuid.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuidv7', () => {
  it('has the version 7 layout', () => {
    for (let i = 0; i < 100; i++) expect(uuidv7()).toMatch(UUID_V7);
  });

  it('encodes the time in milliseconds', () => {
    const before = Date.now();
    const id = uuidv7();
    expect(uuidv7Time(id)).toBeGreaterThanOrEqual(before);
    expect(uuidv7Time(id)).toBeLessThanOrEqual(Date.now() + 1);
  });

  it('is strictly increasing within a process', () => {
    const ids = Array.from({ length: 20_000 }, () => uuidv7());
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('stays increasing when the clock steps back', () => {
    const later = uuidv7(Date.now() + 60_000);
    const earlier = uuidv7(Date.now());
    expect(earlier > later).toBe(true);
  });

  it('stays increasing past 4096 ids in one millisecond', () => {
    const fixed = Date.now() + 120_000;
    const ids = Array.from({ length: 5_000 }, () => uuidv7(fixed));
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
  });
});
