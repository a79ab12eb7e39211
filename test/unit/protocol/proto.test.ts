import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode, errorInfo } from '../../../src/common/errors';
import { protoRoot } from '../../../src/protocol/rpc';

const tsCodes = Object.entries(ErrorCode).filter(([, v]) => typeof v === 'number') as [string, number][];

describe('wire contract', () => {
  it('the proto ErrorCode enum and the TypeScript one have the same names and numbers', () => {
    const protoEnum = protoRoot().lookupEnum('cairn.v1.ErrorCode').values;
    expect(Object.fromEntries(tsCodes)).toEqual(protoEnum);
  });

  it('every error code has a meaning, and docs/errors.md lists it with its retriable flag', () => {
    const doc = fs.readFileSync(path.resolve(__dirname, '../../../docs/errors.md'), 'utf8');
    for (const [name, code] of tsCodes) {
      const info = errorInfo(code);
      expect(info.meaning.length, name).toBeGreaterThan(5);
      expect(doc).toContain(`| ${code} | \`${name}\` | ${info.retriable ? 'yes' : 'no'} |`);
    }
  });

  it('the services the clients use exist with the streams they expect', () => {
    const broker = protoRoot().lookupService('cairn.v1.Broker');
    expect(broker.methods.ProduceStream!.requestStream && broker.methods.ProduceStream!.responseStream).toBe(true);
    expect(broker.methods.FetchStream!.requestStream && broker.methods.FetchStream!.responseStream).toBe(true);
    expect(Object.keys(protoRoot().lookupService('cairn.v1.Admin').methods)).toEqual(['CreateTopics', 'DeleteTopics', 'ListTopics', 'DescribeTopics', 'AlterConfigs', 'AlterPartitionReassignments']);
  });
});
