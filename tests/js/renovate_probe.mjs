// What Renovate itself makes of a renovate.json for a platform repo: which files its
// docker-compose manager would read (our managerFilePatterns, through Renovate's own
// matcher), the dependencies its extractor finds there, and the settings its package
// rule engine gives each one. Usage: node renovate_probe.mjs CONFIG.json REPO_DIR
// Prints JSON: {files: [...], deps: [{file, depName, packageName, automerge, ...}]}.
import { readFileSync, readdirSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { matchRegexOrGlobList } from "renovate/dist/util/string-match.js";
import { extractPackageFile } from "renovate/dist/modules/manager/docker-compose/extract.js";
import { normalizeDepNames } from "renovate/dist/workers/repository/extract/manager-files.js";
import { applyPackageRules } from "renovate/dist/util/package-rules/index.js";

const [configPath, repo] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configPath, "utf8"));
const patterns = config["docker-compose"]?.managerFilePatterns ?? [];

function walk(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === ".git" || entry.name === "node_modules") continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(full));
    else if (entry.isFile()) out.push(relative(repo, full).split(sep).join("/"));
  }
  return out;
}

const files = walk(repo).filter((f) => matchRegexOrGlobList(f, patterns)).sort();
const { packageRules, ...rest } = config;
delete rest["docker-compose"];
const deps = [];
for (const file of files) {
  const res = extractPackageFile(readFileSync(join(repo, file), "utf8"), file, {});
  for (const dep of res?.deps ?? []) {
    normalizeDepNames(dep);
    const out = await applyPackageRules(
      { ...rest, ...dep, manager: "docker-compose", packageFile: file, packageRules },
      "extract",
    );
    deps.push({
      file,
      depName: out.depName,
      packageName: out.packageName,
      skipReason: out.skipReason ?? null,
      automerge: out.automerge ?? null,
      dependencyDashboardApproval: out.dependencyDashboardApproval ?? null,
      labels: [...(out.labels ?? []), ...(out.addLabels ?? [])].sort(),
      groupName: out.groupName ?? null,
      pinDigests: out.pinDigests ?? null,
    });
  }
}
process.stdout.write(JSON.stringify({ files, deps }, null, 2) + "\n");
