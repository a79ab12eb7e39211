import { delegateTo, type FileSystem, nodeFileSystem } from '../../src/storage/file-system';

/**
 * The real disk, with any operation replaceable while a log runs: set `faults.fsync` (or any other
 * operation) to change what the next calls do, delete it to restore. What `withFileIO` did with a
 * module global, done with the injected FileSystem.
 */
export function faultyFs(inner: FileSystem = nodeFileSystem): { fs: FileSystem; faults: Partial<FileSystem>; real: FileSystem } {
  const faults: Partial<FileSystem> = {};
  const real = delegateTo(inner);
  const fs = {} as Record<keyof FileSystem, (...args: never[]) => unknown>;
  for (const key of Object.keys(real) as Array<keyof FileSystem>) {
    fs[key] = (...args: never[]) => ((faults[key] ?? real[key]) as (...a: never[]) => unknown)(...args);
  }
  return { fs: fs as unknown as FileSystem, faults, real };
}
