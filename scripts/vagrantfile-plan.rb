# vagrantfile-plan.rb: evaluates vagrant/Vagrantfile the way `vagrant up`
# would read it and prints, for each machine in definition order, what
# scripts/machines.sh needs to build the same machine:
#
#   machine NAME
#   hostname NAME
#   network IP NETMASK auto      a private network NIC Vagrant configures
#   network IP NETMASK manual    one it leaves without a guest address
#   provision PATH               the shell provisioner's script (absolute)
#   env NAME=VALUE               its environment, one line each
#
# Usage: ruby vagrantfile-plan.rb VAGRANTFILE
# The host's environment is the Vagrantfile's, as with `vagrant up`. Only
# the parts of Vagrant's DSL the lab uses are modelled; anything else is
# recorded and ignored, so a provider block cannot break the plan.

class Recorder
  attr_reader :attrs, :calls

  def initialize
    @attrs = {}
    @children = {}
    @calls = []
  end

  def method_missing(name, *args, **opts, &block)
    key = name.to_s
    if key.end_with?("=")
      @attrs[key.chomp("=")] = args.first
    elsif args.empty? && opts.empty? && block.nil?
      @children[key] ||= Recorder.new
    else
      inner = nil
      if block
        inner = Recorder.new
        block.call(inner, Recorder.new)
      end
      @calls << { method: key, args: args, options: opts, block: inner }
      nil
    end
  end

  def respond_to_missing?(_name, _private = false)
    true
  end

  def child(name)
    @children[name] || Recorder.new
  end
end

module Vagrant
  def self.require_version(*_versions); end

  def self.configure(version)
    raise "configuration version #{version.inspect}, expected \"2\"" unless version == "2"
    config = Recorder.new
    yield config
    ($vagrant_configs ||= []) << config
  end
end

# value VALUE: one line's value; a newline would break the plan's format.
def value(v)
  s = v.to_s
  raise "a value holds a newline: #{s.inspect}" if s.include?("\n")
  s
end

vagrantfile = File.expand_path(ARGV.fetch(0))
dir = File.dirname(vagrantfile)
Dir.chdir(dir) { load File.basename(vagrantfile) }
configs = $vagrant_configs || []
raise "expected one Vagrant.configure block, found #{configs.size}" unless configs.size == 1

configs[0].child("vm").calls.each do |call|
  next unless call[:method] == "define"
  name = call[:args].first
  vm = call[:block].child("vm")
  puts "machine #{value(name)}"
  puts "hostname #{value(vm.attrs['hostname'] || name)}"
  vm.calls.each do |c|
    case c[:method]
    when "network"
      next unless c[:args].first == "private_network"
      o = c[:options]
      mode = o[:auto_config] == false ? "manual" : "auto"
      puts "network #{value(o[:ip])} #{value(o[:netmask] || '255.255.255.0')} #{mode}"
    when "provision"
      o = c[:options]
      next unless c[:args].first == "shell"
      raise "machine #{name}: only provisioners with path: are supported" unless o[:path]
      puts "provision #{value(File.expand_path(o[:path], dir))}"
      (o[:env] || {}).each { |k, v| puts "env #{value(k)}=#{value(v)}" }
    end
  end
end
