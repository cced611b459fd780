<#
.SYNOPSIS
  Register (or with -Remove, unregister) a Windows Task Scheduler task that runs one
  prometheus-bot tick every minute on weekdays, in the bot's folder, never two at once.

.DESCRIPTION
  The task starts in the bot's folder so config.toml is found, appends output to
  logs\task.log, and uses MultipleInstances IgnoreNew so a slow tick is never overlapped
  (the bot's own lock would refuse a second one anyway, with exit code 3).
  Running it again replaces the task: it is idempotent.

.EXAMPLE
  powershell -ExecutionPolicy Bypass -File scripts\install-task.ps1
  powershell -ExecutionPolicy Bypass -File scripts\install-task.ps1 -Remove
#>
param(
  [switch]$Remove,
  [string]$Bin = "",
  [string]$Config = "",
  [string]$TaskName = "prometheus-bot tick"
)
$ErrorActionPreference = "Stop"
$Here = (Resolve-Path (Join-Path $PSScriptRoot "..")).Path
if (-not $Bin) { $Bin = Join-Path $Here "target\release\prometheus-bot.exe" }
if (-not $Config) { $Config = Join-Path $Here "config.toml" }

if ($Remove) {
  if (Get-ScheduledTask -TaskName $TaskName -ErrorAction SilentlyContinue) {
    Unregister-ScheduledTask -TaskName $TaskName -Confirm:$false
    Write-Output "removed task '$TaskName'"
  } else {
    Write-Output "no task '$TaskName' to remove"
  }
  exit 0
}

if (-not (Test-Path $Bin)) {
  Write-Error "no binary at ${Bin}: build it with 'cargo build --release' (or pass -Bin)"
  exit 2
}
New-Item -ItemType Directory -Force -Path (Join-Path $Here "logs") | Out-Null
$Log = Join-Path $Here "logs\task.log"
$Command = "& '$Bin' --config '$Config' tick *>> '$Log'; exit `$LASTEXITCODE"
$Action = New-ScheduledTaskAction -Execute "powershell.exe" `
  -Argument "-NoProfile -NonInteractive -WindowStyle Hidden -Command `"$Command`"" `
  -WorkingDirectory $Here
# Weekdays, starting at midnight, repeating every minute for the whole day.
$Trigger = New-ScheduledTaskTrigger -Weekly -DaysOfWeek Monday,Tuesday,Wednesday,Thursday,Friday -At "00:00"
$Repeat = New-ScheduledTaskTrigger -Once -At "00:00" -RepetitionInterval (New-TimeSpan -Minutes 1) -RepetitionDuration (New-TimeSpan -Hours 23 -Minutes 59)
$Trigger.Repetition = $Repeat.Repetition
$Settings = New-ScheduledTaskSettingsSet -MultipleInstances IgnoreNew `
  -ExecutionTimeLimit (New-TimeSpan -Minutes 2) -StartWhenAvailable -DontStopIfGoingOnBatteries -AllowStartIfOnBatteries
if (Get-ScheduledTask -TaskName $TaskName -ErrorAction SilentlyContinue) {
  Unregister-ScheduledTask -TaskName $TaskName -Confirm:$false
}
Register-ScheduledTask -TaskName $TaskName -Action $Action -Trigger $Trigger -Settings $Settings `
  -Description "One prometheus-bot trading tick (exit 0 ok, 1 failure, 2 config, 3 lock held)" | Out-Null
Write-Output "registered task '$TaskName': every minute on weekdays in $Here"
