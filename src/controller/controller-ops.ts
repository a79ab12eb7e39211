import { type MetadataImage, type MetadataRecord, replay } from '../metadata';
import { fenceBroker } from './broker-ops';
import type { ControllerResult } from './topic-ops';

/**
 * The controller's periodic work, as one pure step over the image (design brief §5): fence every
 * broker whose session expired. Returns the records; the caller appends them.
 */
export function fenceExpired(image: MetadataImage, expired: readonly number[], uncleanDefault: boolean): ControllerResult<number[]> {
  let working = image;
  const records: MetadataRecord[] = [];
  const fenced: number[] = [];
  for (const id of expired) {
    const r = fenceBroker(working, id, uncleanDefault);
    if (r.records.length === 0) continue;
    records.push(...r.records);
    fenced.push(id);
    // Fence one at a time so each election sees the brokers fenced before it.
    working = replayInto(working, r.records);
  }
  return { records, response: fenced };
}

function replayInto(image: MetadataImage, records: MetadataRecord[]): MetadataImage {
  return replay(image, records, image.offset).image;
}
