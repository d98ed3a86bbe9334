# frozen_string_literal: true

# Packs the gems an app's Gemfile.lock names into the app's vendor/cache, from gems already
# installed on this machine (such as Debian's ruby-rack, ruby-minitest, rake, ruby-rspec).
#
# This stands in for `bundle cache` on machines that cannot reach rubygems.org: Debian installs
# gems without their .gem files, so each one is rebuilt from its installed files and gemspec.
# The buildpack then installs the app with `bundle install --local`, which reads vendor/cache.
#
# Usage: ruby vendor-system-gems.rb [--relock] APP_DIR
#
# --relock: when a locked version is not installed here (a Debian update replaced it), first
# re-resolve the lockfile of APP_DIR against the installed gems with `bundle lock --local
# --update`. Meant for copies of the example apps, never for the committed lockfiles.

require "fileutils"
require "rubygems/package"

relock = ARGV.delete("--relock")
app = File.expand_path(ARGV.fetch(0) { abort "usage: ruby #{$PROGRAM_NAME} [--relock] APP_DIR" })
lockfile = File.join(app, "Gemfile.lock")
abort "#{lockfile} does not exist" unless File.file?(lockfile)

def locked_gems(lockfile)
  File.readlines(lockfile).filter_map do |line|
    line.chomp.match(/\A {4}([A-Za-z0-9_.-]+) \(([^)]+)\)\z/)&.captures
  end
end

def installed?(name, version)
  !Gem::Specification.find_all_by_name(name, version).empty?
end

locked = locked_gems(lockfile)
abort "#{lockfile} locks no gems" if locked.empty?

missing = locked.reject { |name, version| installed?(name, version) }
unless missing.empty?
  list = missing.map { |name, version| "#{name} #{version}" }.join(", ")
  abort "not installed on this machine: #{list} (gem list; or pass --relock)" unless relock
  warn "not installed on this machine: #{list}; re-locking against the installed gems"
  system("bundle", "lock", "--local", "--update", chdir: app) || abort("bundle lock --local --update failed in #{app}")
  locked = locked_gems(lockfile)
end

cache = File.join(app, "vendor", "cache")
FileUtils.mkdir_p(cache)
locked.each do |name, version|
  spec = Gem::Specification.find_all_by_name(name, version).first
  abort "#{name} #{version} is not installed on this machine (gem list #{name})" unless spec
  target = File.join(cache, spec.file_name)
  next if File.file?(target)

  spec = spec.dup
  Dir.chdir(spec.full_gem_path) do
    spec.files = Dir.glob("**/*", File::FNM_DOTMATCH).select { |file| File.file?(file) }
    spec.test_files = []
    spec.signing_key = nil
    Gem::DefaultUserInteraction.use_ui(Gem::SilentUI.new) do
      Gem::Package.build(spec, true, false, target)
    end
  end
  puts "vendored #{spec.file_name}"
end
