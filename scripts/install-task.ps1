<#
.SYNOPSIS
  Register (or with -Remove, unregister) a Windows Task Scheduler task that runs one
  prometheus-bot tick every minute, every day, whether or not you are logged on.

.DESCRIPTION
  Choices, and why (see also "Running it for months" in README.md):

  - The task starts prometheus-bot.exe itself, with the config's folder as its working folder.
    No powershell.exe or cmd.exe in between: no interpreter started 1,440 times a day, no
    command string to quote (an apostrophe in a path broke the old one), and Task Scheduler's
    "Last Run Result" is the bot's own exit code: 0 ok (also a closed market), 1 look at the
    log, 2 the config or keys need you, 3 the previous tick was still running.
  - The bot writes its own log, logs\prometheus-bot.log beside the config (UTF-8, rotated by
    the bot by size). Nothing redirects its output: PowerShell 5.1's `*>>` wrote UTF-16, turned
    stderr lines into error records, and held the file open so the bot could not rotate it.
    A healthy tick has nothing to say beyond its exit code; warnings and errors are in the log.
  - Every minute of every day: Task Scheduler's weekdays are the machine's time zone, not New
    York's. The bot decides from the broker's clock, and a tick while the market is closed
    exits at once, without a request, until the next open the broker gave.
  - It runs whether or not you are logged on, which also means no console window ever flashes
    (the task runs in a non-interactive session). By default it uses S4U ("do not store
    password"): no password is kept, and the tick's HTTPS requests work (S4U only lacks
    Windows credentials for network shares, which the bot does not use). Registering an S4U
    task needs an elevated PowerShell ("Run as administrator"). Without elevation, pass
    -Credential (Get-Credential): the password is stored by Task Scheduler, as for any task
    set to run whether the user is logged on or not.
  - MultipleInstances IgnoreNew: a slow tick is never overlapped (the bot's own lock would
    refuse a second one anyway, exit 3). ExecutionTimeLimit 2 minutes: a hung tick is
    stopped. It runs on battery too.
  - Running the script again replaces the task (one task per -TaskName; give each bot folder
    its own -TaskName).

  Errors end the script with exit code 2 and a message on stderr: Write-Error under
  $ErrorActionPreference = "Stop" would throw before a following `exit 2` is reached.

.EXAMPLE
  powershell -ExecutionPolicy Bypass -File scripts\install-task.ps1
  powershell -ExecutionPolicy Bypass -File scripts\install-task.ps1 -Config D:\bots\aapl\config.toml -TaskName "prometheus-bot aapl"
  powershell -ExecutionPolicy Bypass -File scripts\install-task.ps1 -Credential (Get-Credential)
  powershell -ExecutionPolicy Bypass -File scripts\install-task.ps1 -Remove
#>
param(
  [switch]$Remove,
  [string]$Bin = "",
  [string]$Config = "",
  [string]$TaskName = "prometheus-bot tick",
  [System.Management.Automation.PSCredential]$Credential = $null
)
$ErrorActionPreference = "Stop"

# Print to stderr and end with `code`. [Console]::Error is not an error record: nothing throws
# before `exit` runs, under any $ErrorActionPreference.
function Fail([string]$Message, [int]$Code = 2) {
  [Console]::Error.WriteLine("install-task: $Message")
  exit $Code
}

if ($Remove) {
  if (Get-ScheduledTask -TaskName $TaskName -ErrorAction SilentlyContinue) {
    Unregister-ScheduledTask -TaskName $TaskName -Confirm:$false
    Write-Output "removed task '$TaskName'"
  } else {
    Write-Output "no task '$TaskName' to remove"
  }
  exit 0
}

# -LiteralPath everywhere: `[` and `]` in a folder name are wildcards to -Path.
$Here = (Resolve-Path -LiteralPath (Join-Path $PSScriptRoot "..")).ProviderPath
if (-not $Bin) { $Bin = Join-Path $Here "target\release\prometheus-bot.exe" }
if (-not $Config) { $Config = Join-Path $Here "config.toml" }
if (-not (Test-Path -LiteralPath $Bin -PathType Leaf)) {
  Fail "no binary at ${Bin}: build it with 'cargo build --release' (or pass -Bin)"
}
if (-not (Test-Path -LiteralPath $Config -PathType Leaf)) {
  Fail "no config at ${Config} (pass -Config)"
}
# Absolute paths: the task does not start in this shell's folder.
$Bin = (Resolve-Path -LiteralPath $Bin).ProviderPath
$Config = (Resolve-Path -LiteralPath $Config).ProviderPath
$Folder = Split-Path -Parent $Config

# One argument string for the program, split by the Microsoft C runtime rules the Rust
# standard library follows: double quotes around a path keep its spaces and apostrophes; a
# Windows path cannot contain a double quote, and ends in config.toml, never in a backslash.
$Action = New-ScheduledTaskAction -Execute $Bin -Argument "--config `"$Config`" tick" `
  -WorkingDirectory $Folder

# From today's midnight, every minute, with no end. No -RepetitionDuration means "indefinitely"
# on Windows 10/11 and Server 2016+ ([TimeSpan]::MaxValue, the old idiom, is refused there).
$Trigger = New-ScheduledTaskTrigger -Once -At (Get-Date).Date `
  -RepetitionInterval (New-TimeSpan -Minutes 1)

$Settings = New-ScheduledTaskSettingsSet -MultipleInstances IgnoreNew `
  -ExecutionTimeLimit (New-TimeSpan -Minutes 2) -StartWhenAvailable `
  -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries

$Description = "One prometheus-bot tick for $Folder (exit 0 ok, 1 see logs\prometheus-bot.log, 2 config or keys, 3 previous tick still running)"
if (Get-ScheduledTask -TaskName $TaskName -ErrorAction SilentlyContinue) {
  Unregister-ScheduledTask -TaskName $TaskName -Confirm:$false
}
try {
  if ($Credential) {
    # "Run whether user is logged on or not", password stored by Task Scheduler.
    Register-ScheduledTask -TaskName $TaskName -Action $Action -Trigger $Trigger `
      -Settings $Settings -Description $Description -RunLevel Limited `
      -User $Credential.UserName -Password $Credential.GetNetworkCredential().Password | Out-Null
  } else {
    # "Run whether user is logged on or not" + "Do not store password" (S4U).
    $Principal = New-ScheduledTaskPrincipal -UserId ([Security.Principal.WindowsIdentity]::GetCurrent().Name) `
      -LogonType S4U -RunLevel Limited
    Register-ScheduledTask -TaskName $TaskName -Action $Action -Trigger $Trigger `
      -Settings $Settings -Description $Description -Principal $Principal | Out-Null
  }
} catch {
  Fail ("could not register the task: $($_.Exception.Message). An S4U task needs an " +
    "elevated PowerShell (Run as administrator); or pass -Credential (Get-Credential).")
}
Write-Output "registered task '$TaskName': every minute, every day, in $Folder (log: logs\prometheus-bot.log there)"
