// Validate KEDA objects against the schemas of the @kubernetes-models/keda npm package.
// usage: node validate_keda.mjs NODE_PREFIX < objects.json   (a JSON list of manifests)
// Prints one line per object; exits 1 if any is invalid.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const prefix = process.argv[2];
const base = join(prefix, "node_modules", "@kubernetes-models", "keda", "keda.sh", "v1alpha1");
const kinds = {
  ScaledObject: (await import(pathToFileURL(join(base, "ScaledObject.js")))).ScaledObject,
  ScaledJob: (await import(pathToFileURL(join(base, "ScaledJob.js")))).ScaledJob,
  TriggerAuthentication: (await import(pathToFileURL(join(base, "TriggerAuthentication.js")))).TriggerAuthentication,
};
let failed = 0;
for (const obj of JSON.parse(readFileSync(0, "utf8"))) {
  const Model = kinds[obj.kind];
  if (!Model) {
    console.log(`unknown kind ${obj.kind}`);
    failed++;
    continue;
  }
  try {
    new Model(obj).validate();
    console.log(`valid ${obj.kind}/${obj.metadata.name}`);
  } catch (err) {
    console.log(`invalid ${obj.kind}/${obj.metadata?.name}: ${err.message}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
