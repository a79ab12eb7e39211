/**
 * The controller quorum's membership in the metadata image (KIP-853's VotersRecord): the Raft
 * driver turns each committed config entry into a QuorumMembership record, so that every node —
 * broker-only ones through FetchMetadata — knows the controllers; snapshots keep it.
 */
import { describe, expect, test } from 'vitest';
import { nodeId, term } from '../../../src/common/types';
import { MetadataImage, replay } from '../../../src/metadata';
import { encodeMembership } from '../../../src/raft/membership';
import { entryRecords } from '../../../src/raft/io/raft-driver';

describe('QuorumMembership records', () => {
  const membership = {
    voters: [
      { id: nodeId(2), endpoint: '' },
      { id: nodeId(4), endpoint: 'h4:9093' },
    ],
    learners: [{ id: nodeId(1), endpoint: '' }],
  };

  test('a committed config entry becomes one record; data and no-op entries keep theirs', () => {
    expect(entryRecords({ index: 7, term: term(2), kind: 'config', data: encodeMembership(membership) })).toEqual([
      {
        type: 'QuorumMembership',
        voters: [
          { id: 2, endpoint: '' },
          { id: 4, endpoint: 'h4:9093' },
        ],
        learners: [{ id: 1, endpoint: '' }],
      },
    ]);
    expect(entryRecords({ index: 8, term: term(2), kind: 'noop', data: new Uint8Array(0) })).toEqual([]);
  });

  test('the image holds the newest one, and a snapshot of the image (toRecords) rebuilds it', () => {
    expect(MetadataImage.EMPTY.quorum).toBeNull();
    const [first] = entryRecords({ index: 3, term: term(1), kind: 'config', data: encodeMembership({ voters: membership.voters, learners: [] }) });
    const [second] = entryRecords({ index: 9, term: term(2), kind: 'config', data: encodeMembership(membership) });
    const image = replay(replay(MetadataImage.EMPTY, [first!], 3).image, [second!], 9).image;
    expect(image.quorum).toEqual(second);
    const rebuilt = replay(MetadataImage.EMPTY, image.toRecords(), 9).image;
    expect(rebuilt.quorum).toEqual(second);
    expect(rebuilt.digest()).toBe(image.digest());
  });
});
