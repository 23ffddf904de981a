// Types of bench/targets.mjs, for the unit tests of the server targets' verdicts.
import type { Section } from './measure.mjs';

export function evaluate(sec: Section, md5Floor?: object): void;
