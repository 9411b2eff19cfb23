/**
 * `waypost init`: the files of a new policy repository. Small on purpose: one journey node, and
 * every policy kind it needs, so that `check`, `test` and `demo` pass as generated and each file
 * shows the shape a team extends. The files carry an editor schema comment pointing at the
 * installed package's schemas/ (the path is the caller's to choose: see schemaComment).
 */
import { VERSION } from "../compiler/version.js";

export interface InitOptions {
  /** The `$schema` folder as seen from the repository root, `/`-separated, no trailing slash. */
  schemas: string;
  /** The policy folder's path from the Git repository root ("." when it is the root). */
  policyDir: string;
}

/** The editor comment on the first line, for a file `depth` folders below the repository root. */
function schemaComment(o: InitOptions, depth: number, schema: string): string {
  const up = "../".repeat(depth);
  const base = o.schemas.startsWith("/") || /^[a-z]+:/i.test(o.schemas) ? o.schemas : `${up}${o.schemas}`;
  return `# yaml-language-server: $schema=${base}/${schema}`;
}

/**
 * The generated repository's cases cover 7 of 9 items (no case decides `review` or `holdout`:
 * it has no reviewed node and no experiment), so CI starts at 75%: raise it as cases grow.
 */
export const INIT_COVERAGE = 75;

export function initFiles(o: InitOptions): Map<string, string> {
  const files = new Map<string, string>();
  files.set("policies/data-dictionary.yaml", `${schemaComment(o, 1, "data-dictionary.schema.json")}
# Every field a journey decision may read. A field that is not here cannot be used.
apiVersion: waypost/v1
kind: DataDictionary
description: Fields available to customer-journey decisions.

keys:
  customer: customer.id
  jurisdiction: customer.jurisdiction
  utc_offset: customer.utc_offset_minutes

fields:
  customer.id:
    type: string
    description: Stable customer number.
    category: user.unique_id
    sensitivity: confidential
    source: crm
    residency: [EU]
    mask: hash
  customer.jurisdiction:
    type: string
    description: Legal jurisdiction whose marketing and privacy rules apply.
    category: user.location
    sensitivity: internal
    source: crm
    residency: [EU]
    validation: { values: [EU] }
  customer.utc_offset_minutes:
    type: integer
    description: The customer's current offset from UTC, in minutes (for quiet hours).
    category: user.location
    sensitivity: internal
    source: crm
    residency: [EU]
    validation: { min: -720, max: 840 }
  account.opened_at:
    type: timestamp
    description: When the customer opened their account.
    category: user.account
    sensitivity: internal
    source: crm
    residency: [EU]
`);
  files.set("policies/purposes.yaml", `${schemaComment(o, 1, "purposes.schema.json")}
# Why we process data, on which lawful basis (GDPR Art. 6), and when we need consent.
apiVersion: waypost/v1
kind: Purposes

jurisdictions:
  EU:
    title: European Union (GDPR, ePrivacy)
    marketing_requires_consent: true
    minimum_marketing_age: 16

purposes:
  onboarding:
    title: Helping new customers get started
    category: service
    lawful_basis:
      EU: [contract]
`);
  files.set("policies/access.yaml", `${schemaComment(o, 1, "access-policy.schema.json")}
# The systems that may ask for decisions, and what each purpose may read. Deny beats allow.
apiVersion: waypost/v1
kind: AccessPolicy

systems:
  crm:
    title: Customer relationship management (EU)
    region: EU
    allow: { purposes: [onboarding] }

fields:
  allow:
    onboarding: [customer.*, account.*]

channels:
  allow: [email]

templates:
  welcome-email: { channel: email, length: 1500 }
`);
  files.set("policies/suppressions.yaml", `${schemaComment(o, 1, "suppressions.schema.json")}
# Who must not be contacted, for which channels and purposes, and why.
apiVersion: waypost/v1
kind: Suppressions

lists:
  - id: global-opt-out
    title: Global opt-out
    reason: The customer asked us never to contact them.
    match: customer.id
    scope: { channels: all, purposes: all }
    entries:
      - C-0000
`);
  files.set("policies/contact.yaml", `${schemaComment(o, 1, "contact-policy.schema.json")}
# How often, when and how we may contact a customer, across all journeys.
apiVersion: waypost/v1
kind: ContactPolicy

offsets:
  email: 15m

quiet_hours:
  - id: night
    from: "22:00"
    to: "07:00"
    channels: [email]
    reason: No emails between 22:00 and 07:00 local time.

caps:
  - id: email-weekly
    max: 3
    per: 7d
    channel: email
    reason: At most 3 emails a week, across all journeys.
`);
  files.set("journeys/welcome.yaml", `${schemaComment(o, 1, "journey-node.schema.json")}
apiVersion: waypost/v1
kind: JourneyNode
id: welcome
title: Welcome email the day after the account opens
owner: onboarding-team@example.com
purpose: onboarding
lawful_basis: contract

trigger:
  event: account.daily_check
  when: days_since(account.opened_at) == 1

context:
  - account.opened_at

action:
  channels: [email]
  templates:
    email: welcome-email

risk: low
priority: 50

explanation: You are receiving this because you opened an account yesterday.
`);
  files.set("tests/welcome.yaml", `${schemaComment(o, 1, "test-suite.schema.json")}
apiVersion: waypost/v1
kind: PolicyTests
description: Welcome email the day after the account opens

defaults:
  system: crm
  event: account.daily_check
  now: 2026-03-02T10:00:00Z
  context:
    customer.id: C-1001
    customer.jurisdiction: EU
    customer.utc_offset_minutes: 60
    account.opened_at: 2026-03-01T09:30:00Z

cases:
  - name: the welcome email goes the day after the account opens
    expect:
      outcome: send
      node: welcome
      channel: email
      template: welcome-email
      send_at: 2026-03-02T10:15:00Z
      reasons: [trigger-matched, lawful-basis]

  - name: not on the day the account opens
    request:
      context: { account.opened_at: 2026-03-02T08:00:00Z }
    expect:
      outcome: deny
      reasons: [trigger-not-matched]

  - name: nobody on the opt-out list is contacted
    request:
      context: { customer.id: C-0000 }
    expect:
      outcome: suppress
      reasons: [suppression/global-opt-out]

  - name: at most three emails a week
    request:
      history:
        - { channel: email, purpose: onboarding, at: 2026-02-25T10:00:00Z }
        - { channel: email, purpose: onboarding, at: 2026-02-27T10:00:00Z }
        - { channel: email, purpose: onboarding, at: 2026-03-01T10:00:00Z }
    expect:
      outcome: suppress
      reasons: [contact/cap/email-weekly]

  - name: an email that would arrive at night waits for 07:00 local time
    request:
      now: 2026-03-02T21:00:00Z           # it would land at 22:15 local time (UTC+1)
    expect:
      outcome: defer
      send_at: 2026-03-03T06:00:00Z       # 07:00 at UTC+1
      reasons: [quiet-hours]

invariants:
  - id: opted-out-get-nothing
    description: Nobody on the global opt-out list is ever contacted.
    when: customer.id in list("global-opt-out")
    then: not decision.sends
`);
  files.set("requests/welcome.json", `${JSON.stringify({
    system: "crm",
    event: "account.daily_check",
    now: "2026-03-02T10:00:00Z",
    context: { "customer.id": "C-2001", "customer.jurisdiction": "EU", "customer.utc_offset_minutes": 60, "account.opened_at": "2026-03-01T09:30:00Z" },
  }, null, 2)}\n`);
  files.set("requests/welcome.expected.json", `${JSON.stringify({
    description: "The day after the account opens: the welcome email, 15 minutes later.",
    outcome: "send",
    node: "welcome",
    channel: "email",
    template: "welcome-email",
    variant: null,
    send_at: "2026-03-02T10:15:00Z",
    reasons: ["trigger-matched", "lawful-basis"],
  }, null, 2)}\n`);
  files.set(".gitignore", "out/\nnode_modules/\n*.sarif\nwaypost-test.*\npolicy-diff.*\n");
  for (const [name, text] of workflowFiles({ waypost: "npx --no-install waypost", setup: `npm install --no-save waypost@${VERSION}`, policyDir: o.policyDir, coverage: INIT_COVERAGE, npmCache: false })) files.set(`.github/workflows/${name}`, text);
  return files;
}

export interface WorkflowOptions {
  /** How the workflow runs waypost, e.g. `npx --no-install waypost` or `node bin/waypost.js`. */
  waypost: string;
  /** The shell step that makes it available. */
  setup: string;
  /** The policy folder from the repository root. */
  policyDir: string;
  /** `waypost test --coverage-threshold` in CI. */
  coverage: number;
  /** setup-node's npm cache (needs a package-lock.json). */
  npmCache: boolean;
}

/**
 * The policy workflows. policy-tests.yml: `check` as SARIF first (whatever happens after, the
 * file exists, and exactly when there are errors), uploaded to code scanning; then `check` as
 * annotations, `test` with JUnit, `build`. policy-diff.yml: the pull request's diff, computed
 * with a read-only token (so also for forks) and uploaded as an artifact. policy-diff-comment.yml:
 * posts it (see COMMENT_WORKFLOW). This repository's own workflows are these, for
 * examples/northwind (test/ci/workflows.test.ts keeps them equal).
 */
export function workflowFiles(w: WorkflowOptions): Map<string, string> {
  const paths = w.policyDir === "." ? '"**"' : `"${w.policyDir}/**"`;
  const node = `      - uses: actions/setup-node@v4
        with:
          node-version: 20${w.npmCache ? "\n          cache: npm" : ""}
      - name: setup waypost
        run: ${w.setup}`;
  const files = new Map<string, string>();
  files.set("policy-tests.yml", `# Checks, tests and builds the policies on every pull request and on main:
#   1. \`waypost check\` as SARIF, uploaded to code scanning (alerts on the pull request's files);
#      run first and never failing its step, so the file exists exactly when there are errors;
#   2. \`waypost check\` as annotations (this step fails on errors);
#   3. \`waypost test\`: the cases through the compiled bundle, the invariants on generated
#      requests, coverage (fails below the threshold); JUnit and annotations at the failing line;
#   4. \`waypost build\`: the bundle, uploaded for the deploy pipeline.
# Paths in SARIF, annotations and JUnit are relative to the repository root, as GitHub needs.
name: policy tests

on:
  pull_request:
    paths: [${paths}, ".github/workflows/policy-tests.yml"]
  push:
    branches: [main]
    paths: [${paths}]
  workflow_dispatch:
    inputs:
      seed:
        description: replay an invariant failure with this seed (printed by every run)
        required: false

permissions:
  contents: read

concurrency:
  group: policy-tests-\${{ github.ref }}
  cancel-in-progress: true

env:
  WAYPOST: ${w.waypost}
  # The policy folder (\`.\` when the policies are the whole repository).
  POLICY_DIR: ${w.policyDir}
  # More generated requests on main than on pull requests; both stay within minutes.
  RUNS: \${{ github.event_name == 'push' && '2000' || '500' }}
  # Fails below this percentage of nodes, condition branches and outcomes covered by cases.
  COVERAGE_THRESHOLD: "${w.coverage}"

jobs:
  policy:
    runs-on: ubuntu-latest
    timeout-minutes: 15
    permissions:
      contents: read
      # upload-sarif: code scanning alerts (a fork's pull request gets a read-only token: the
      # upload is then refused and the job goes on, the annotations still show).
      security-events: write
      actions: read
    steps:
      - uses: actions/checkout@v4
${node}

      - name: waypost check (SARIF)
        continue-on-error: true
        run: $WAYPOST check "$POLICY_DIR" --format sarif > waypost-check.sarif
      - name: upload to code scanning
        if: always() && hashFiles('waypost-check.sarif') != ''
        continue-on-error: true
        uses: github/codeql-action/upload-sarif@v3
        with:
          sarif_file: waypost-check.sarif
          category: waypost

      - name: waypost check
        run: $WAYPOST check "$POLICY_DIR" --format github

      - name: waypost test
        id: test
        env:
          SEED_INPUT: \${{ github.event.inputs.seed }}
        run: |
          # Every run prints its seed; a re-run can replay it from the dispatch input.
          SEED="\${SEED_INPUT:-$GITHUB_RUN_ID}"
          set +e
          # Annotations go to the log; the readable report to a file and the job summary.
          $WAYPOST test "$POLICY_DIR" --seed "$SEED" --runs "$RUNS" --coverage-threshold "$COVERAGE_THRESHOLD" --format github --junit waypost-test.junit.xml
          status=$?
          $WAYPOST test "$POLICY_DIR" --seed "$SEED" --runs "$RUNS" --coverage-threshold "$COVERAGE_THRESHOLD" --no-color > waypost-test.txt
          { echo '## waypost test'; echo '\`\`\`'; cat waypost-test.txt; echo '\`\`\`'; } >> "$GITHUB_STEP_SUMMARY"
          exit $status

      - name: test report
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: waypost-test-report
          path: |
            waypost-test.junit.xml
            waypost-test.txt
            waypost-check.sarif
          if-no-files-found: ignore

      - name: waypost build
        run: $WAYPOST build "$POLICY_DIR" --out out --revision "\${{ github.sha }}"
      - name: upload the bundle
        uses: actions/upload-artifact@v4
        with:
          name: policy-bundle-\${{ github.sha }}
          path: out/bundle.tar.gz
          if-no-files-found: error
`);
  files.set("policy-diff.yml", `# Computes \`waypost diff\` for a pull request (changes by entity, decision impact, risk
# call-outs; Markdown, JSON and the HTML views) and uploads it as the \`policy-diff\` artifact.
# Read-only, so it runs the same for pull requests from forks; policy-diff-comment.yml posts it.
name: policy diff

on:
  pull_request:
    paths: [${paths}]

permissions:
  contents: read

concurrency:
  group: policy-diff-\${{ github.event.pull_request.number }}
  cancel-in-progress: true

jobs:
  diff:
    runs-on: ubuntu-latest
    timeout-minutes: 15
    steps:
      - uses: actions/checkout@v4
        with:
          # waypost reads both commits from Git: a shallow clone would stop at WP5003.
          fetch-depth: 0
${node}
      - name: waypost diff
        env:
          WAYPOST: ${w.waypost}
          BASE: \${{ github.event.pull_request.base.sha }}
          HEAD: \${{ github.event.pull_request.head.sha }}
          PR: \${{ github.event.pull_request.number }}
        run: |
          mkdir -p policy-diff
          for format in markdown json html; do
            ext=$format; [ "$format" = markdown ] && ext=md
            # --prove: the solver's witnesses join the sample, so a widening change is found (and
            # labelled) whatever the sample size.
            $WAYPOST diff "$BASE" "$HEAD" --repo ${w.policyDir} --format "$format" --seed 1 --runs 5000 --prove --out "policy-diff/policy-diff.$ext"
          done
          # For the comment workflow: which pull request, at which commit.
          echo "$PR" > policy-diff/pr-number
          echo "$HEAD" > policy-diff/head-sha
          cat policy-diff/policy-diff.md >> "$GITHUB_STEP_SUMMARY"
      - uses: actions/upload-artifact@v4
        with:
          name: policy-diff
          path: policy-diff/
          if-no-files-found: error
`);
  files.set("policy-diff-comment.yml", COMMENT_WORKFLOW);
  return files;
}

/**
 * Runs after "policy diff" with write rights, in the base repository's context. It never checks
 * out or runs the pull request's code: it only reads the artifact, treating its contents as
 * untrusted data (the number must be a number and that pull request's head must be the commit
 * the run was for; the text is posted as a comment, never executed or interpolated into a shell).
 */
const COMMENT_WORKFLOW = `# Posts the policy diff on the pull request and labels widening changes. Triggered by the
# completed "policy diff" run, so it works for pull requests from forks too (their own runs get
# a read-only token). Safe by construction: it never checks out or runs the pull request's code;
# it downloads the artifact that run produced and posts it as text.
name: policy diff comment

on:
  workflow_run:
    workflows: ["policy diff"]
    types: [completed]

permissions:
  actions: read
  pull-requests: write
  issues: write

jobs:
  comment:
    if: github.event.workflow_run.event == 'pull_request' && github.event.workflow_run.conclusion == 'success'
    runs-on: ubuntu-latest
    timeout-minutes: 5
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: policy-diff
          path: policy-diff
          run-id: \${{ github.event.workflow_run.id }}
          github-token: \${{ secrets.GITHUB_TOKEN }}
      - name: comment on the pull request and label widening changes
        uses: actions/github-script@v7
        env:
          RUN_URL: \${{ github.event.workflow_run.html_url }}
        with:
          script: |
            const fs = require("fs");
            const read = (f) => fs.readFileSync(\`policy-diff/\${f}\`, "utf8");
            const pr = Number(read("pr-number").trim());
            if (!Number.isSafeInteger(pr) || pr <= 0) throw new Error("the artifact's pull-request number is not a number");
            const { owner, repo } = context.repo;
            // The artifact was written by the pull request's run: believe its number only if that
            // pull request's head is the commit the run was for.
            const { data: pull } = await github.rest.pulls.get({ owner, repo, pull_number: pr });
            const head = context.payload.workflow_run.head_sha;
            if (pull.head.sha !== head) throw new Error(\`pull request #\${pr} is at \${pull.head.sha}, the run was for \${head}\`);
            const marker = "<!-- waypost-policy-diff -->";
            const link = fs.existsSync("policy-diff/policy-diff.html") ? \`\\n[The HTML views](\${process.env.RUN_URL}) (policy-diff.html in the run's \\\`policy-diff\\\` artifact)\\n\` : "";
            const body = \`\${marker}\\n\${link}\${read("policy-diff.md")}\`.slice(0, 65000);
            const comments = await github.paginate(github.rest.issues.listComments, { owner, repo, issue_number: pr });
            const mine = comments.find((c) => c.body && c.body.startsWith(marker));
            if (mine) await github.rest.issues.updateComment({ owner, repo, comment_id: mine.id, body });
            else await github.rest.issues.createComment({ owner, repo, issue_number: pr, body });
            const diff = JSON.parse(read("policy-diff.json"));
            if (Number(diff?.impact?.widening ?? 0) > 0) await github.rest.issues.addLabels({ owner, repo, issue_number: pr, labels: ["policy: widening"] });
`;
